"""Seed-level comparisons: the pre-training run is the unit of replication (Liu et al. 2023's claims are about
training procedures, not about one trained network).

An *arm* is what a set of runs replicates (a model size, an algorithm; `config.arm`), each run one pre-training
seed. Per run, a quantity is read at a checkpoint (probe accuracy averaged over its probe seeds, Tr(H), the gap);
then
- `compare_arms(a, b, value)`: arm a minus arm b at their final checkpoints, Welch's t over seeds;
- `within_run_change(arm, value, first, last)`: the change between two checkpoints of each run (continued
  training), one-sample t over runs.
Both return a `Comparison`, which carries n and refuses a verdict ("untested: 1 seed") when a side has one seed;
then its interval is the single measurement's own (probe or estimator noise, flatness_jax.analysis.points).
"""
import dataclasses

import numpy as np

from flatness_jax.analysis import points as points_lib, stats
from flatness_jax.rundir import records


@dataclasses.dataclass
class Arm:
  """The runs (one per pre-training seed) of one arm, with their measured points."""
  name: str
  runs: list          # run names, in first-appearance order
  points: list        # every measured point of those runs

  @property
  def num_seeds(self) -> int:
    return len(self.runs)

  @property
  def num_params(self) -> int:
    return max((p.num_params for p in self.points), default=0)

  @property
  def language(self) -> str:
    return next((p.language for p in self.points if p.language), "")

  def run_points(self, run: str) -> list:
    return sorted((p for p in self.points if p.run == run), key=lambda p: p.step)

  def finals(self) -> list:
    """The newest measured point of each run."""
    return [self.run_points(r)[-1] for r in self.runs if self.run_points(r)]


def arms_of(pts) -> list[Arm]:
  """Arms in order of first appearance, each with its runs."""
  arms = {}
  for p in pts:
    arm = arms.setdefault(p.arm, Arm(p.arm, [], []))
    if p.run not in arm.runs:
      arm.runs.append(p.run)
    arm.points.append(p)
  return list(arms.values())


@dataclasses.dataclass
class Comparison:
  """An estimate with its 95% interval; `tested` when it is an interval over pre-training seeds."""
  estimate: float
  low: float
  high: float
  n_a: int                # seeds (runs) on each side; n_b = 0 for a within-run change
  n_b: int = 0
  df: float = float("nan")
  tested: bool = False

  def verdict(self, expected_sign: int) -> records.Verdict:
    if not self.tested:
      return stats.UNTESTED
    return stats.verdict(self.low, self.high, expected_sign)

  @property
  def n_text(self) -> str:
    seeds = f"{self.n_a} vs {self.n_b} seeds" if self.n_b else f"{self.n_a} seeds"
    return seeds if self.tested else f"{seeds} (probe/estimator noise only)"


def _finite(values):
  v = np.asarray([x for x in values if x is not None and np.isfinite(x)], np.float64)
  return v


def compare_values(a, b, single=None) -> Comparison | None:
  """Welch over the replicates a, b (each a value per seed); with one on a side, the `single` measurement
  (estimate, low, high) as an untested comparison, or None."""
  a, b = _finite(a), _finite(b)
  if len(a) >= 2 and len(b) >= 2:
    d, lo, hi, df = stats.welch_ci(a, b)
    return Comparison(d, lo, hi, len(a), len(b), df, tested=True)
  if len(a) and len(b) and single is not None:
    return Comparison(*single, n_a=len(a), n_b=len(b))
  return None


def compare_arms(a: Arm, b: Arm, value, single=None) -> Comparison | None:
  """a − b at the final checkpoints: value(point) per seed; single(pa, pb) gives the one-seed measurement."""
  fa, fb = a.finals(), b.finals()
  one = single(fa[0], fb[0]) if single and len(fa) == 1 and len(fb) == 1 and fa and fb else None
  return compare_values([value(p) for p in fa], [value(p) for p in fb], one)


def within_run_change(arm: Arm, value, pick, single=None) -> Comparison | None:
  """Per run: value(last) − value(first) for (first, last) = pick(run points) (None skips the run); mean over runs
  with a one-sample t interval. One run: single(first, last) as an untested measurement."""
  pairs = [pick(arm.run_points(r)) for r in arm.runs]
  pairs = [pl for pl in pairs if pl is not None]
  diffs = _finite([value(last) - value(first) for first, last in pairs])
  if len(diffs) >= 2:
    m, lo, hi, df = stats.mean_ci(diffs)
    return Comparison(m, lo, hi, len(diffs), 0, df, tested=True)
  if len(diffs) == 1 and single is not None:
    s = single(pairs[0][0], pairs[0][1])
    return Comparison(*s, n_a=1) if s else None
  return None


def accuracy_of(task):
  return lambda p: p.accuracy(task)[0]


def trace_of(key):
  return lambda p: p.trace(key)[0]


def gap_of(p):
  return p.eval.gap_relative


def spread(arm: Arm, value, within) -> tuple:
  """(between-seed SD of value at the final checkpoints, mean within-run SD): replication noise next to the
  measurement noise a single run shows (probe-seed SD, estimator SE)."""
  finals = arm.finals()
  vals = _finite([value(p) for p in finals])
  between = float(vals.std(ddof=1)) if len(vals) >= 2 else float("nan")
  inner = _finite([within(p) for p in finals])
  return between, float(inner.mean()) if len(inner) else float("nan")


def single_accuracy(task):
  return lambda a, b: points_lib.accuracy_difference(a, b, task)


def single_trace(key):
  return lambda a, b: points_lib.trace_difference(a, b, key)
