"""Power of the design a verdict rests on: the smallest effect it could detect, and the runs an effect would need.

A two-sided t test at level α on ν degrees of freedom with standard error se detects an effect δ with probability
≈ 1 − β when |δ| ≥ (t_{1−α/2, ν} + t_{1−β, ν}) · se (the normal-approximation power formula with t quantiles;
Cohen 1988, ch. 2). So
- `detectable_effect`: that bound for a test as measured (se from the measured between-seed SD and the design's
  run counts; for a correlation the bound is on Fisher's z and is reported as tanh(bound));
- `runs_needed`: the fewest pre-training runs per arm (two arms: se = sd·√(2/n), ν = 2n − 2; one-sample or paired:
  se = sd/√n, ν = n − 1) at which an effect of size δ reaches power 1 − β, given the between-seed SD sd.
The level is the family's per-row level (flatness_jax.analysis.family: α/m, what a lone effect must clear under
Holm), the power 80%.
"""
import numpy as np

from flatness_jax.analysis import stats

POWER = 0.8


def _multiplier(df, alpha: float, power: float) -> float:
  return stats.t_quantile(df, 1 - alpha) + stats.t_quantile(df, 2 * power - 1)


def detectable_effect(test: stats.TTest, alpha: float, power: float = POWER) -> float:
  """The smallest |effect| the test detects with probability `power` at two-sided level `alpha` (nan if the test
  has no valid SE)."""
  if test is None or not test.valid:
    return float("nan")
  bound = _multiplier(test.df, alpha, power) * test.se
  return float(np.tanh(bound)) if test.fisher else float(bound)


def runs_needed(sd: float, effect: float, alpha: float, power: float = POWER, two_arms: bool = True,
                limit: int = 10_000):
  """The fewest runs per arm (≥ 2) that detect |effect| with probability `power` at level `alpha`, given the
  between-run SD `sd`; None when sd or effect is not a positive finite number or more than `limit` are needed."""
  if not (np.isfinite(sd) and np.isfinite(effect) and sd > 0 and effect != 0):
    return None
  def enough(n):
    df, se = (2 * n - 2, sd * np.sqrt(2 / n)) if two_arms else (n - 1, sd / np.sqrt(n))
    return _multiplier(df, alpha, power) * se <= abs(effect)
  if not enough(limit):
    return None
  lo, hi = 2, limit
  while lo < hi:  # the bound falls monotonically with n
    mid = (lo + hi) // 2
    lo, hi = (lo, mid) if enough(mid) else (mid + 1, hi)
  return lo
