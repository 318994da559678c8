"""The CPU quickstart, end to end: data card → two transformer sizes trained to within 2% of the exact optimal loss
of a synthetic PCFG → curvature and linear probes of their converged checkpoints → report.md with CIs and verdicts.

Command:  python -m experiments.main --config=configs/quickstart.py --workdir=runs/quickstart
Runtime:  measured 3 min 45 s on a quiet 2-core CPU machine from an empty workdir and an empty compilation cache
          (2026-12-02): data card 0.5 s, training cpu_xs 69 s (5,200 steps) and cpu_s 67 s (2,600 steps),
          curvature of two checkpoints 29 s (cpu_xs) and 36 s (cpu_s; 39 s of the two is XLA compilation), probes
          11 s and 10 s, report 0.5 s. (Before: 9 min 50 s with cpu_s and cpu_m; what changed: the sizes are now
          cpu_xs and cpu_s, since cpu_m's 262 s of compute-bound training alone broke a 6-minute budget; BertMLM runs
          its last block at the masked rows only, 1.5× faster steps and HVPs; curvature batches of 128.) A second
          run reuses the persistent compilation cache (flatness_jax.parallel.compile_cache; measured with the
          earlier sizes: first training step after 2 s instead of 7 s, cpu_s curvature 32 s instead of 63 s).
          timings.json in the workdir has the stage table. Other jobs on the same cores stretch it.
Reaches:  held-out gap ≤ 2% of the optimal loss (L* ≈ 1.67 nats on cpu_easy) for both sizes (measured, the same
          to every digit in two fresh clones on 2026-12-03: cpu_xs 1.25 ± 0.21% at step 5,200, cpu_s 1.32 ±
          0.22% at 2,600, whose Tr(H) is 102.0 ± 4.6 in the report and 100.2 ± 2.6 with 100 probes in
          benchmarks/bench_pyhessian.py; an earlier version of this line said 1.33% / 1.07%, which the code of
          its own commit does not reproduce: it trains cpu_s to 1.32% too); the report
          (runs/quickstart/report.md) gives per size and per converged checkpoint: gap ± SE, Tr(H) ± SE,
          Fisher trace ± SE, probe accuracies ± std on tasks A/B/C next to majority / Bayes / lookup-table
          accuracies. With one pre-training seed per size (the default, to keep the runtime) the report prints
          measurements, not verdicts ("untested: 1 seed"); --config.seeds=3 (about 3× the time) or
          configs/model_size.py / configs/continued.py give the replicated answer. Stages can be chosen with
          --config.stages=train,report etc.; --config.run_arms=cpu_s,cpu_m trains the earlier, larger pair.
:tiny     the same pipeline on the tiny PCFG and the cpu_tiny model, with common.tiny's budgets: about a minute.
Language: the 'cpu_easy' balanced PCFG (depth 4 → 16 tokens, 4 non-terminals per level, 2 rules each, 50 words);
          recipe of ../shared/DESIGN.md (pre-LN encoder, AdamW β=(0.9, 0.98), lr 3e-3, 200-step warmup, cosine to 2%).
"""
import ml_collections

from experiments.configs import base
from experiments.configs import common
from experiments.configs import curvature as curvature_config
from experiments.configs import probes as probes_config
from experiments.configs import report as report_config
from flatness_jax.train import arms


def get_config(arg=None):
  """arg: 'tiny' (the tiny language and model, tiny budgets: tests, debugging), 'seeds=S'."""
  a = common.parse_arg(arg, __file__, tiny=False, seeds=1)
  c = base.train_config()
  c.job = "quickstart"
  c.name = "quickstart"
  c.stages = "data_card,train,curvature,probes,report"  # Pipeline stages, in order (flatness_jax.pipeline).
  # The arms (flatness_jax.train.arms): named partial configs trained in this order, each to <workdir>/<arm>.
  # cpu_xs (4× fewer FLOPs per token) needs twice the steps for the same gap (at 2,600 it stopped at 2.2%).
  c.arms = arms.make_arms(cpu_xs={"model.preset": "cpu_xs", "train.num_steps": 5200},
                          cpu_s={"model.preset": "cpu_s"})
  c.run_arms = ""           # Arms to train, comma-separated, in this order ('': every arm); a model preset that is
  #                           not an arm trains as an arm of its own (--config.run_arms=cpu_s,cpu_m).
  c.seeds = a.seeds         # Pre-training seeds per arm (each run its own streams from `seed`: train.arms; runs
  #                           in <arm>/seed_<k> when > 1).
  #                           One seed gives measurements, not verdicts: the report says which rows are untested.
  c.data.kind = "pcfg"
  c.data.preset = "cpu_easy"
  c.model.preset = "cpu_s"  # The model of arms that set no preset of their own (configs/algorithms.py's).
  c.train.num_steps = 2600
  c.train.batch_size = 256
  c.optimizer.learning_rate = 3e-3
  c.optimizer.warmup_steps = 200
  c.optimizer.schedule = "cosine"
  c.optimizer.end_fraction = 0.02
  c.checkpoint.every = 200
  c.checkpoint.keep_period = 200  # Keep every 200-step checkpoint: later checkpoints are the continued-training record.

  c.card = ml_collections.ConfigDict()
  c.card.num_sentences = 10000  # Sentences for the data card's Monte Carlo estimates.
  c.card.sample_seed = 1        # Seed of those sentences.

  c.curvature = curvature_config.get_config().curvature
  c.curvature.steps = "last:2"  # The two newest checkpoints of each size (converged; continued training).
  c.curvature.methods = "hutchinson"  # Fixed budgets keep the CPU pipeline bounded (SEs are reported).
  c.curvature.rtol, c.curvature.num_matvecs, c.curvature.lanczos_iters = 0.0, 32, 10
  c.curvature.num_pairs = c.curvature.fisher_examples = c.curvature.downstream_examples = 512
  c.probes = probes_config.get_config().probes
  c.probes.steps = "last:2"
  c.probes.num_examples = 2000
  c.report = report_config.get_config().report
  c.report.claims = "size"  # The confirmatory family (flatness_jax.analysis.claims): larger vs smaller at equal loss.
  c.report.equal_loss_margin = 0.005  # Equal loss: the 90% Δgap interval inside ±0.5% of L* (TOST at 5%).
  # The committed record of this configuration (configs/paper.py commits it): the report says whether this machine
  # reproduced its seed 0.
  c.report.committed = f"results/{'tiny' if a.tiny else 'cpu'}/quickstart/pcfg"
  if a.tiny:
    tiny_language_and_model(c)
    common.tiny(c)
  return c


def tiny_language_and_model(c):
  """The tiny PCFG preset and one arm, the cpu_tiny transformer (quickstart.py:tiny, lm.py:tiny)."""
  c.data.preset = "tiny"
  c.arms = arms.make_arms(cpu_tiny={"model.preset": "cpu_tiny"})
