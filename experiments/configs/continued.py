"""Continued training after convergence (Liu et al. 2023, §3 and Fig. 1): one cpu_s transformer trained well past
the point where its held-out loss reaches the optimum, with per-checkpoint held-out gap ± SE, Tr(H) (Hutchinson)
± SE, the Fisher trace ± SE, λ_max and linear-probe accuracy per task ± std over probe seeds.

Command:  python -m experiments.main --config=configs/continued.py --workdir=runs/continued
Runtime:  about 45 minutes on 2 CPU cores (6,000 steps of training ≈ 20 min; 11 checkpoints of curvature and
          probes ≈ 2 min each).
Reaches:  gap ≤ 3% of L* from about step 1,200 on (cpu_easy PCFG, L* ≈ 1.67 nats); the report's continued-training
          verdicts compare the first and last saturated checkpoints, and the flatness-vs-accuracy correlation uses
          every measured checkpoint (≥ 8 points).
"""
from experiments.configs import quickstart


def get_config():
  c = quickstart.get_config()
  c.name = "continued"
  c.stages = "train,curvature,probes,report"
  c.sizes = "cpu_s"
  c.train.num_steps = 6000
  c.checkpoint.every = c.checkpoint.keep_period = 400
  measured = ",".join(str(s) for s in range(2000, 6001, 400))
  c.curvature.steps = c.probes.steps = measured
  c.curvature.same_probes = True  # Common random numbers across checkpoints (their differences are the question).
  return c
