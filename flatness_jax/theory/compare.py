"""Measured against predicted: the decrease of Tr ∇²L under SGD vs the flow, and the distance to Γ vs √η.

Decrease ratio. For SGD seed j (the unit of replication) and a recorded time t = η² k,
    ρ_j(t) = [Tr ∇²L(θ_0) − Tr ∇²L(θ_k^{(j)})] / [Tr ∇²L(θ_0) − Tr ∇²L(θ_flow(t))],
the flow started at the same θ_0 ∈ Γ. Theorem 4.3 predicts ρ → 1 as η → 0 at fixed t, for every B; `ratio_ci` gives
the mean over seeds with its Student-t 95% interval (the flow is deterministic, so the interval is the seeds' only).
At finite η the ratio has an O(η) bias (discrete-time and O(dist²) terms), so `extrapolate_to_zero` fits
ρ(η) = a + b η by weighted least squares over the learning rates and reports a ± SE: the η → 0 limit itself.

Distance to Γ. Linearised in the normal space, SGD's normal displacement n has the stationary covariance X with
H X + X H − η H X H = η Σ = η H / B, i.e. (X commutes with H) E‖n‖² = Σ_{λ_i > 0} η / (B (2 − η λ_i)) ≈ η·codim Γ
/ (2B): the distance is O(√η). `predicted_distance` evaluates the sum on the Hessian's nonzero eigenvalues.
"""
import numpy as np

from flatness_jax.analysis import stats

_NONZERO = 1e-9  # Hessian eigenvalues above this (relative to the largest) span the normal space


def ratio_ci(measured_decrease, predicted_decrease, level: float = 0.95) -> dict:
  """Mean, SE and t interval over seeds of measured_decrease[j] / predicted_decrease."""
  r = np.asarray(measured_decrease, np.float64) / float(predicted_decrease)
  n = len(r)
  if n < 2:
    return {"ratio": float(r.mean()), "se": float("nan"), "ci95": [float("nan")] * 2, "num_seeds": n}
  mean, low, high, _ = stats.mean_ci(r, level)
  return {"ratio": mean, "se": float(r.std(ddof=1) / np.sqrt(n)), "ci95": [low, high], "num_seeds": n}


def decrease_ratio(traces, flow_traces, index: int = -1) -> dict:
  """ratio_ci of the decrease from record 0 to record `index`: traces [seeds, records], flow_traces [records]."""
  traces, flow_traces = np.asarray(traces, np.float64), np.asarray(flow_traces, np.float64)
  predicted = flow_traces[0] - flow_traces[index]
  out = ratio_ci(traces[:, 0] - traces[:, index], predicted)
  return {**out, "predicted_decrease": float(predicted),
          "measured_decrease": float(np.mean(traces[:, 0] - traces[:, index]))}


def extrapolate_to_zero(learning_rates, ratios, ses) -> dict:
  """a ± SE of the weighted least-squares line ratio ≈ a + b η (weights 1/SE²; SE scaled up by the misfit)."""
  x, y = np.asarray(learning_rates, np.float64), np.asarray(ratios, np.float64)
  w = 1.0 / np.maximum(np.asarray(ses, np.float64), 1e-12) ** 2
  if len(x) < 2:
    return {"intercept": float("nan"), "se": float("nan"), "slope": float("nan")}
  design = np.stack([np.ones_like(x), x], axis=1)
  cov = np.linalg.inv(design.T @ (w[:, None] * design))
  coef = cov @ design.T @ (w * y)
  misfit = np.sum(w * (y - design @ coef) ** 2) / (len(x) - 2) if len(x) > 2 else 1.0
  se = np.sqrt(np.diag(cov) * max(misfit, 1.0))
  return {"intercept": float(coef[0]), "se": float(se[0]), "slope": float(coef[1]), "slope_se": float(se[1])}


def normal_eigenvalues(hess) -> np.ndarray:
  """The nonzero eigenvalues of a Hessian on Γ (its normal-space spectrum)."""
  ev = np.linalg.eigvalsh(np.asarray(hess, np.float64))
  return ev[ev > _NONZERO * max(ev.max(), 1e-300)]


def predicted_distance(hess, learning_rate: float, batch_size: int) -> float:
  """√(Σ_{λ_i > 0} η / (B (2 − η λ_i))): the stationary RMS distance of linearised SGD from Γ."""
  lam = normal_eigenvalues(hess)
  return float(np.sqrt(np.sum(learning_rate / (batch_size * (2.0 - learning_rate * lam)))))


def rms_distance(distances, start_index: int) -> float:
  """√(mean of distance²) over seeds and over records from `start_index` on (after the normal relaxation)."""
  d = np.asarray(distances, np.float64)[:, start_index:]
  return float(np.sqrt(np.mean(d ** 2)))
