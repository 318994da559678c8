"""Is a checkpoint at a minimum? Read off the measurements curvature.json already has.

The paper's claims compare models at (near-)minimizers of the pre-training loss, where the Hessian H is positive
semi-definite. A PSD matrix has Tr(H) = Σᵢ λᵢ ≥ λ_max ≥ 0, and the largest Lanczos Ritz value θ₁ (the
`lambda_max` entry, measured on the same held-out pairs as the Hutchinson trace) is a lower bound on λ_max: Ritz
values are Rayleigh quotients, so they lie in [λ_min, λ_max]. Hence, at a minimum, Tr(H) ≥ θ₁ and Tr(H) > 0.

Being at a minimum is a gate a comparison must pass, so it is shown, not assumed: a checkpoint counts as at a
minimum when its Tr(H) estimate is positive with its lower 95% bound (t on the estimator's degrees of freedom)
above zero, and the estimate is not below θ₁. A negative estimate, an estimate not resolved from zero (an
indefinite Hessian's positive and negative eigenvalues cancel in the trace) or one below θ₁ (negative eigenvalues
summing to at least θ₁ − Tr(H)) withholds; so does a checkpoint without a Tr(H) estimate. At a healthy minimum
Tr(H) is many times both its SE and θ₁, so the gate fires on indefiniteness, not on estimator noise. Without λmax
only the sign and resolution of Tr(H) are tested.
"""
import numpy as np

from flatness_jax.analysis import stats

NOT_AT_MINIMUM = "not at a minimum"


def negative_curvature(p) -> str:
  """'' when point p is shown at a minimum, else the evidence in a few words.

  Reads the Hutchinson Tr(H) (Point.trace's default key, the one the findings use) and the Lanczos `lambda_max`."""
  value, se = p.trace()
  ritz = p.curvature.lambda_max.value
  where = f"{p.run} step {p.step}"
  if not np.isfinite(value):
    return f"{where}: no Tr(H) measured"
  if value < 0:
    return f"{where}: Tr(H) {value:.3g} < 0"
  if np.isfinite(se):
    lower = value - stats.t_quantile(p.trace_dof()) * se
    if lower <= 0:
      return f"{where}: Tr(H) {value:.3g} ± {se:.2g} not resolved from 0"
  if np.isfinite(ritz) and value < ritz:
    return f"{where}: Tr(H) {value:.3g} < λmax {ritz:.3g}"
  return ""


def not_at_minimum(points) -> str:
  """'' when every point of `points` is shown at a minimum, else 'k of n checkpoints; <the first one's evidence>'."""
  bad = [why for why in (negative_curvature(p) for p in points) if why]
  if not bad:
    return ""
  return f"{len(bad)} of {len(points)} checkpoints; {bad[0]}"
