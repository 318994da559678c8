"""Theorem 4.3 checked numerically on a model whose minimiser manifold is known (flatness_jax/theory).

Softmax regression with a factorised weight, logits (0, U V x), trained by SGD with fresh samples on labels from a
teacher softmax(0, W* x) it can represent: Γ = {U V = W*}, and on Γ the batch-B gradient-noise covariance is exactly
∇²L / B. From one point of Γ, SGD (several η, B, seeds) is compared with the predicted flow
dθ/dt = −(1/(4B)) P_T ∇Tr∇²L, t = η² k (flatness_jax/theory/flow.py derives the constant).

Command:  python -m experiments.main --config=configs/theory_drift.py --workdir=runs/theory_drift
Runtime:  2 cores: under a minute (15 cells × 16 seeds, mostly start-up and compilation).
Reaches:  measured/predicted decrease of Tr∇²L → 1 as η → 0 for every B (the literal constant 1/(4B) with t = η²k),
          and distance to Γ of order √(η/B); written to WORKDIR/theory_drift.json, report.md and trace_vs_t.png.
"""
import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.job = "theory_drift"            # experiments/jobs.py -> flatness_jax.theory.job.
  c.name = "theory_drift"           # Default run-directory name under runs/ when --workdir is not given.
  c.theory = ml_collections.ConfigDict()
  c.theory.seed = 0                 # Seed of the teacher W* (its singular vectors).
  c.theory.num_classes = 3          # C; logits of class 0 are pinned at 0, so U V has C − 1 rows.
  c.theory.dim = 3                  # d: inputs x ∈ {±√d e_j}, uniform (E[x xᵀ] = I).
  c.theory.rank = 2                 # r: inner dimension of U V (= rank W*); Γ has dimension r².
  c.theory.teacher_scale = 1.0      # Singular values of W* are spread over [1, 2] × this.
  c.theory.imbalance = 2.0          # Start (U* g, V* / g) on Γ; g ≠ 1 gives the flow a Tr∇²L to decrease.
  c.theory.learning_rates = "0.2,0.1,0.05,0.025,0.0125"  # η values (η·λ_max < 2 is checked).
  c.theory.batch_sizes = "1,4,16"   # B values.
  c.theory.num_seeds = 16           # SGD seeds per (η, B): the unit of replication for the intervals.
  c.theory.horizon = 1.0            # Compare at t = horizon · B (the same stretch of the flow for every B).
  c.theory.num_records = 8          # Records per run (Tr∇²L, distance to Γ) at t = i · horizon · B / num_records.
  c.theory.flow_step = 0.01         # RK4 step of the flow, in units of t / B.
  c.theory.sgd_seed = 0             # Seed of the SGD sample streams.
  return c
