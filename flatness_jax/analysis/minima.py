"""Is a checkpoint at a minimum? Negative curvature read off the measurements curvature.json already has.

The paper's claims compare models at (near-)minimizers of the pre-training loss, where the Hessian H is positive
semi-definite. A PSD matrix has Tr(H) = Σᵢ λᵢ ≥ λ_max ≥ 0, and the largest Lanczos Ritz value θ₁ (the
`lambda_max` entry, measured on the same held-out pairs as the Hutchinson trace) is a lower bound on λ_max: Ritz
values are Rayleigh quotients, so they lie in [λ_min, λ_max]. Hence, at a minimum, Tr(H) ≥ θ₁ and Tr(H) ≥ 0. A
checkpoint whose Tr(H) has an upper 95% bound (t on the estimator's degrees of freedom) below θ₁, or below zero,
has negative eigenvalues summing to at most Tr(H) − θ₁ < 0: a saddle or a slope, where "flatter" and "at equal
loss" comparisons do not test the paper's claims. At a healthy minimum Tr(H) is many times θ₁ (7–30× at the
converged checkpoints we measured on all three languages), so the test fires on real indefiniteness, not on
estimator noise. A point without a Tr(H) estimate passes; without λmax only the sign of Tr(H) is tested.
"""
import numpy as np

from flatness_jax.analysis import stats

from flatness_jax.rundir import records

NOT_AT_MINIMUM = "not at a minimum"


def negative_curvature(p) -> str:
  """'' when point p shows no negative curvature (or lacks the measurements), else the evidence in a few words.

  Reads the Hutchinson Tr(H) (Point.trace's default key, the one the findings use) and the Lanczos `lambda_max`."""
  value, se = p.trace()
  ritz = p.curvature.lambda_max.value
  if not (np.isfinite(value) and np.isfinite(se)):
    return ""
  upper = value + stats.t_quantile(p.trace_dof()) * se
  if upper < 0:
    return f"{p.run} step {p.step}: Tr(H) ≤ {upper:.3g} < 0"
  if np.isfinite(ritz) and upper < ritz:
    return f"{p.run} step {p.step}: Tr(H) ≤ {upper:.3g} < λmax {ritz:.3g}"
  return ""


def not_at_minimum(points) -> str:
  """'' when no point of `points` shows negative curvature, else 'k of n checkpoints; <the first one's evidence>'."""
  bad = [why for why in (negative_curvature(p) for p in points) if why]
  if not bad:
    return ""
  return f"{len(bad)} of {len(points)} checkpoints; {bad[0]}"


def gate(verdict: records.Verdict, points) -> records.Verdict:
  """The verdict, unless one of `points` is not at a minimum (then untested, with why); untested stays as it is."""
  why = not_at_minimum(points) if verdict.tested else ""
  return records.Verdict.untested(f"{NOT_AT_MINIMUM} ({why})") if why else verdict


def at_minimum(verdict: records.Verdict, *arms) -> records.Verdict:
  """`gate` over the final checkpoints of every run of the arms."""
  return gate(verdict, [p for arm in arms for p in arm.finals()])
