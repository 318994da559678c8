"""Flatness drift after convergence against batch size (Theorem 4.3 of the paper: SGD drifts along the minimiser
manifold, decreasing Tr(H) at a rate ∝ 1/(4B)). Each run continues the same converged model (the quickstart's cpu_s)
with constant-lr SGD at batch B; Tr(H) is measured at every checkpoint and the report fits the rate per B and its
log–log slope against B (prediction −1).

Command:  python -m experiments.main --config=configs/batch_sweep.py --workdir=runs/batch_sweep \
            --config.train.init_from=runs/quickstart/cpu_s
Runtime:  2 cores: tens of minutes per seed (training grows with B; 24 curvature measurements); 3 seeds per arm.
Reaches:  a per-B table of −dTr(H)/dstep ± SE and the fitted exponent with its 95% CI (the report's drift table);
          at this length the drift is expected to be below the estimators' noise (the budget that would resolve it
          is in git history: issue 15's note in this docstring).
"""
from experiments.configs import common, quickstart
from flatness_jax.train import arms


def get_config(arg=None):
  """arg: 'tiny', 'seeds=S'."""
  a = common.parse_arg(arg, __file__, tiny=False, seeds=3)
  c = quickstart.recipe()
  c.name = "batch_sweep"
  c.seeds = a.seeds  # Pre-training seeds per arm (verdicts need >= 2).
  c.stages = "train,curvature,report"
  c.train.init_from = "runs/quickstart/cpu_s"  # A converged run directory of the same model.
  c.train.num_steps = 1000
  c.optimizer.name = "sgd"
  c.optimizer.momentum = 0.0
  c.optimizer.learning_rate = 0.05
  c.optimizer.schedule = "constant"
  c.optimizer.warmup_steps = 0
  c.optimizer.clip_norm = 0.0
  c.checkpoint.every, c.checkpoint.keep_period = 200, 200
  c.arms = arms.make_arms(**{f"b{b}": {"train.batch_size": b} for b in (64, 128, 256, 512)})  # cpu_s at batch B
  c.curvature.lanczos_iters = 6          # λ_max is a by-product here; the drift is in Tr(H).
  c.curvature.fisher_examples = 256
  c.curvature.same_probes = True  # Common random numbers: the drift is a difference across checkpoints.
  c.curvature.steps = "0,200,400,600,800,1000"
  c.curvature.methods = "hutchinson"
  c.curvature.tasks = ""
  c.report.claims = "drift"  # Confirmatory: Theorem 4.3's drift falls with the batch size (log–log slope < 0).
  return common.tiny(c) if a.tiny else c
