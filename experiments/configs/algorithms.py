"""Training algorithms at fixed size (paper Tables 1–2 and the reviewers' "is flatness just size?"): AdamW, SGD
(12% warmup then constant lr, as in the paper), SAM and adversarial pre-training, all on the cpu_s transformer and
the cpu_easy PCFG, each followed by curvature, probes and the report.

Command:  python -m experiments.main --config=configs/algorithms.py --workdir=runs/algorithms
Runtime:  about 25 minutes on 2 CPU cores (AdamW ≈ 3 min, SGD ≈ 3 min, SAM ≈ 6 min, adversarial ≈ 5 min of
          training; curvature and probes ≈ 1.5 min per run).
Reaches:  a table per algorithm of gap ± SE, Tr(H) ± SE, Fisher trace, probe accuracies ± std, and verdicts;
          whether each effect is significant at this scale is computed, not assumed. The explicit Tr(H) penalty
          (train.algorithm=trace_penalty) needs third derivatives and is ~20× slower per step; add it with
          --config.variants to this list when you can afford it.
"""
from experiments.configs import quickstart


def get_config():
  c = quickstart.get_config()
  c.name = "algorithms"
  c.stages = "train,curvature,probes,report"
  c.sizes = "cpu_s"
  c.variants = ("adamw:train.algorithm=standard;"
                "sgd:optimizer.name=sgd,optimizer.learning_rate=0.1,optimizer.schedule=constant,"
                "optimizer.warmup_fraction=0.12;"
                "sam:train.algorithm=sam,train.sam_rho=0.05;"
                "adversarial:train.algorithm=adversarial,train.adversarial_lambda=0.5")
  # An early checkpoint besides the two converged ones: SGD converges more slowly, and the iso-loss table matches
  # checkpoints of different algorithms at equal held-out loss; 12 points also allow correlation CIs.
  c.curvature.steps = c.probes.steps = "600,2400,2600"
  return c
