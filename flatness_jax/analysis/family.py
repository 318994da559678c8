"""Verdicts for the confirmatory family, after Holm's correction; numbers only for everything else.

A report's confirmatory rows (one per declared claim and language, flatness_jax.analysis.claims) form one family
of m tests. Holm's step-down procedure (Holm 1979) controls the family-wise error rate at α = 5%: with the
two-sided p-values ordered p₍₁₎ ≤ … ≤ p₍ₘ₎, the adjusted p̃₍ⱼ₎ = max_{i≤j} min(1, (m − i + 1) p₍ᵢ₎), and a row is
significant when p̃ ≤ α. Rows that fail a gate or have too few runs are untested and count in m with p = 1 (the
family is what was declared, not what happened to pass). Each row's interval is drawn at level 1 − α·p/p̃ (between
1 − α and 1 − α/m: the level Holm's step gives that row), so it excludes zero exactly when the row is significant,
and a null row's interval states the effects the family's test excludes.

A significant row reads "reproduced" when its estimate has the paper's sign and "opposite" otherwise ("differs"
for a claim without a direction); the direction is the paper's claim, never a non-significant estimate's. A
non-significant row reads "not significant at this scale" with the effects its interval excludes. Next to each:
the smallest effect this design detects with 80% power at α/m (the level a lone effect must clear under Holm),
and the pre-training runs per arm an effect of the paper's size would need (flatness_jax.analysis.power).
Exploratory rows get their 95% interval and no verdict words.
"""
import dataclasses
from typing import Optional

import numpy as np

from flatness_jax.analysis import power, rows as rows_lib
from flatness_jax.rundir import records

CORRECTION = "Holm"


@dataclasses.dataclass
class Draft:
  """A row before the family is known: what was compared (`comparison`: replicates.Comparison, or a stats.TTest
  for a correlation), on what scale, which gates it passed, and whether it is confirmatory."""
  claim: str
  title: str
  language: str
  unit: str
  scale: float = 1.0                     # display = scale × estimate
  task: str = ""
  detail: str = ""
  paper: str = "—"
  expected: int = 0
  confirmatory: bool = False
  comparison: object = None
  test: object = None                    # stats.TTest over runs, or None
  estimate: float = float("nan")
  single: Optional[tuple] = None         # (low, high) of a one-run measurement
  n: str = ""
  runs: int = 0
  gates: tuple = ()
  sd: float = float("nan")               # between-run SD for runs_needed
  two_arms: bool = True
  paper_effect: Optional[float] = None   # in display units

  @classmethod
  def of(cls, comparison, **kw) -> "Draft":
    """From a replicates.Comparison."""
    return cls(comparison=comparison, test=comparison.test, estimate=comparison.estimate,
               single=comparison.single, n=comparison.n_text, runs=comparison.runs if comparison.tested else 0,
               sd=comparison.sd, two_arms=comparison.two_arms, **kw)

  @property
  def testable(self) -> bool:
    return all(g.ok for g in self.gates) and self.test is not None and self.test.valid


def holm(p_values) -> np.ndarray:
  """Holm-adjusted p-values (nan counts as 1)."""
  p = np.where(np.isfinite(p_values), np.asarray(p_values, np.float64), 1.0)
  m = len(p)
  order = np.argsort(p, kind="stable")
  adjusted = np.empty(m)
  running = 0.0
  for rank, i in enumerate(order):
    running = max(running, min(1.0, (m - rank) * p[i]))
    adjusted[i] = running
  return adjusted


def _interval(d: Draft, level: float) -> tuple:
  if d.test is not None:
    lo, hi = d.test.interval(level)
  else:
    lo, hi = d.single if d.single is not None else (float("nan"), float("nan"))
  return d.scale * lo, d.scale * hi


def _excludes(lo: float, hi: float, unit: str) -> str:
  if not (np.isfinite(lo) and np.isfinite(hi)):
    return ""
  return (f"excludes effects below {rows_lib.number(lo, unit)} and above {rows_lib.number(hi, unit)}"
          f"{rows_lib.unit_suffix(unit)}")


def _verdict(d: Draft, p_adj: float, level: float, lo: float, hi: float) -> tuple:
  """(kind, reason) of a confirmatory row."""
  failed = [g for g in d.gates if not g.ok]
  if failed:
    return records.UNTESTED, "; ".join(g.text for g in failed)
  if d.test is None or not d.test.valid:
    return records.UNTESTED, "too few runs" if d.test is None else "no interval"
  if p_adj <= level:
    if d.expected == 0:
      return records.DIFFERS, ""
    return (records.REPRODUCED if np.sign(d.estimate) == d.expected else records.OPPOSITE), ""
  return records.NOT_SIGNIFICANT, _excludes(lo, hi, d.unit)


def finalize(drafts, level: float = 0.05) -> list:
  """rows.Row for every draft: the confirmatory ones tested as one Holm family at `level`."""
  confirmatory = [d for d in drafts if d.confirmatory]
  m = len(confirmatory)
  p = np.array([d.test.p_value if d.testable else np.nan for d in confirmatory])
  adjusted = holm(p) if m else np.array([])
  out = {}
  for d, pi, pa in zip(confirmatory, p, adjusted):
    factor = pa / pi if np.isfinite(pi) and pi > 0 else m
    row_level = 1 - level / factor
    lo, hi = _interval(d, row_level if d.testable else 0.95)
    kind, reason = _verdict(d, pa, level, lo, hi)
    effect = d.paper_effect
    needed = None
    if effect is not None and np.isfinite(d.sd):
      needed = power.runs_needed(d.scale * d.sd, effect, level / m, two_arms=d.two_arms)
    out[id(d)] = rows_lib.Row(
        d.claim, d.title, d.language, True, d.scale * d.estimate, lo, hi, row_level if d.testable else 0.95,
        d.unit, d.n, d.runs, d.task, d.detail, d.paper, tuple(d.gates), float(pi) if np.isfinite(pi) else np.nan,
        float(pa) if np.isfinite(pi) else np.nan, kind, reason,
        d.scale * power.detectable_effect(d.test, level / m) if d.test is not None else np.nan,
        np.nan if effect is None else float(effect), needed, f"{CORRECTION} over {m} rows at {level:g}")
  for d in drafts:
    if not d.confirmatory:
      lo, hi = _interval(d, 0.95)
      out[id(d)] = rows_lib.Row(d.claim, d.title, d.language, False, d.scale * d.estimate, lo, hi, 0.95, d.unit,
                                d.n, d.runs, d.task, d.detail, d.paper, tuple(d.gates))
  return [out[id(d)] for d in drafts]
