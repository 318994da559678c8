"""The gates every comparison passes before it may carry a verdict (a confirmatory row) or a plain reading (an
exploratory one): each is shown from the records, never assumed.

- equal loss: comparisons "at equal pre-training loss" (sizes, algorithms, continued training) need the difference
  of the compared gaps shown equivalent to zero: two one-sided tests at 5% against the margin stated in the config,
  i.e. the 90% interval of Δgap (fraction of L*) inside ±margin. A Δgap without an interval (one run a side with
  no paired losses, a NaN gap) does not pass.
- at a minimum: every compared checkpoint passes flatness_jax.analysis.minima (Tr(H) positive, resolved from zero
  and not below its top Ritz value).
- converged: correlation rows use only checkpoints within the saturation gap of L* and at a minimum.
- runs: enough pre-training runs for an interval that can exclude zero: ≥ 2 runs on each side of a difference,
  ≥ MIN_CLUSTERS resampling units (and MIN_POINTS checkpoints) for a correlation.
"""
import dataclasses

import numpy as np

from flatness_jax.analysis import minima
from flatness_jax.analysis.tables import ci

EQUIVALENCE_LEVEL = 0.90  # two one-sided tests at 5%
# A correlation's cluster bootstrap with G units has C(2G − 1, G) distinct draws: 10 at G = 3, 35 at 4, 126 at 5,
# 462 at 6. A row tested at a family's per-row level α/m needs at least m/α of them before its tails mean anything;
# G = 6 serves every per-row level down to 0.05/23, more rows than any experiment declares.
MIN_CLUSTERS = 6
MIN_POINTS = 8


@dataclasses.dataclass(frozen=True)
class Gate:
  """One gate of a row: its name ('equal loss', 'at a minimum', 'converged', 'runs'), whether it passed, and the
  evidence in a few words."""
  name: str
  ok: bool
  text: str

  def to_json(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, d: dict) -> "Gate":
    return cls(str(d["name"]), bool(d["ok"]), str(d.get("text", "")))


def equal_loss(gap, margin: float) -> Gate:
  """The equivalence test of a gap Comparison (replicates.Comparison of Δgap, single measurements at the
  EQUIVALENCE_LEVEL) against ±margin."""
  if gap is None:
    return Gate("equal loss", False, "not at equal loss: no gap difference measured")
  lo, hi = gap.interval(EQUIVALENCE_LEVEL)
  text = f"Δgap {ci((gap.estimate, lo, hi), 100)}% of L* (90%)"
  if not (np.isfinite(gap.estimate) and np.isfinite(lo) and np.isfinite(hi)):
    return Gate("equal loss", False, f"not at equal loss: Δgap {100 * gap.estimate:+.2f}% of L* has no interval")
  if -margin < lo and hi < margin:
    return Gate("equal loss", True, f"{text} inside ±{100 * margin:.2f}%")
  return Gate("equal loss", False, f"not at equal loss: {text} not inside ±{100 * margin:.2f}%")


def at_minimum(points) -> Gate:
  why = minima.not_at_minimum(points)
  return Gate("at a minimum", not why, f"{minima.NOT_AT_MINIMUM} ({why})" if why else
              f"{len(points)} checkpoints at a minimum")


def converged(p, saturated_gap: float) -> bool:
  """Whether point p is within `saturated_gap` of L* and at a minimum (a correlation may use it)."""
  return bool(np.isfinite(p.eval.gap_relative) and p.eval.gap_relative <= saturated_gap
              and not minima.negative_curvature(p))


def runs(comparison) -> Gate:
  """≥ 2 runs on each side (within-run changes: ≥ 2 runs) and an interval over them."""
  if comparison is None:
    return Gate("runs", False, "too few runs: nothing measured")
  sides = f"{comparison.n_a} vs {comparison.n_b}" if comparison.n_b else f"{comparison.n_a}"
  if not comparison.tested:
    return Gate("runs", False, f"too few runs ({sides}; ≥ 2 per arm needed)")
  if not comparison.test.valid:
    return Gate("runs", False, f"no interval ({sides} runs without spread)")
  return Gate("runs", True, f"{sides} runs")


def correlation_runs(units: int, checkpoints: int, unit: str = "runs") -> Gate:
  if units < MIN_CLUSTERS or checkpoints < MIN_POINTS:
    return Gate("runs", False, f"too few runs ({units} {unit}, {checkpoints} checkpoints; ≥ {MIN_CLUSTERS} "
                               f"{unit} and {MIN_POINTS} checkpoints needed)")
  return Gate("runs", True, f"{units} {unit}, {checkpoints} checkpoints")
