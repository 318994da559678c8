"""Theorem 4.3 checked numerically on a model whose minimiser manifold is known (flatness_jax/theory).

Softmax regression with a factorised weight, logits (0, U V x), trained by SGD with fresh samples on labels from a
teacher softmax(0, W* x) it can represent: Γ = {U V = W*}, and on Γ the batch-B gradient-noise covariance is exactly
∇²L / B. From one point of Γ, SGD (several η, B, seeds) is compared with the predicted flow
dθ/dt = −(1/(4B)) P_T ∇Tr∇²L, t = η² k (flatness_jax/theory/flow.py derives the constant).

Command:  python -m experiments.main --config=configs/theory_drift.py --workdir=runs/theory_drift
Runtime:  measured 32 s wall (26 s the sweep, the rest start-up and compilation) on 2 CPU cores shared with other
          jobs (load ≈ 5); 15 cells, 16 seeds each, 24 to 102,400 SGD steps per run.
Reaches:  measured/predicted decrease of Tr∇²L → 1 as η → 0 for every B, the literal constant 1/(4B) with t = η²k
          (fixed seeds: the same digits on every run on one machine). Measured, ratio [95% CI over 16 seeds]:
            Tr∇²L at the iterate, η = 0.0125: B = 1: 1.016 [0.970, 1.061], B = 4: 1.013 [0.983, 1.044],
              B = 16: 1.007 [0.997, 1.016]; at η = 0.2: 1.55, 1.14, 1.10; η → 0 fit: 0.975 ± 0.019, 1.008 ± 0.017,
              1.001 ± 0.004;
            Tr∇²L at the nearest point of Γ, η = 0.0125: 1.009, 1.004, 1.005 (CI half-widths ≤ 0.008); η → 0 fit:
              1.006 ± 0.005, 0.998 ± 0.002, 1.001 ± 0.001 (within 0.6% of 1);
            distance to Γ: dist/√η ≈ 1.7–2.0 (B = 1), 0.87–0.98 (B = 4), 0.43–0.45 (B = 16), i.e. O(√(η/B)), at
              0.98–1.13 × the linearised prediction √(Σ η / (B(2 − ηλ))).
          Had the constant been 1/(2B) the ratios would be 0.5; without the 1/B, B at B = 4 and 16.
Writes:   WORKDIR/theory_drift.json, report.md (ratio tables η × B with 95% intervals over seeds, the η → 0
          extrapolation, distance to Γ against √η) and trace_vs_t.png (Tr∇²L vs t: SGD seeds with bands, the flow).
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
