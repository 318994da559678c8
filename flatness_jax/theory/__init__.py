"""Theorem 4.3 of Liu et al. (2023) checked numerically on a model whose minimiser manifold Γ is known.

Pure float64 functions (imports: curvature and rundir only):
  * `model`: factorised softmax regression on realisable labels; exact population loss, Hessian, Tr∇²L, and the
    gradient-noise covariance (= ∇²L / B on Γ); the fresh-sample batch sampler;
  * `manifold`: Γ = {U V = W*}: tangent/normal projectors, retraction, nearest point, distance;
  * `flow`: the predicted flow dθ/dt = −(1/(4B)) P_T ∇Tr∇²L (RK4 + retraction), with the constant derived;
  * `sgd`: SGD seeds with fresh samples, recording exact Tr∇²L and the distance to Γ against t = η² k;
  * `compare`: measured/predicted decrease ratios with intervals over seeds, η → 0 extrapolation, distance vs √η;
  * `sweep`, `report`, `figure`, `job`: the η × B sweep and the 'theory_drift' job (configs/theory_drift.py).
"""
