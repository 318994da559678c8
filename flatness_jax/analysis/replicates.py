"""Seed-level comparisons: the pre-training run is the unit of replication (Liu et al. 2023's claims are about
training procedures, not about one trained network).

An *arm* is what a set of runs replicates on one language (a model size, an algorithm; `config.arm`), each run one
pre-training seed. Per run, a quantity is read at a checkpoint (probe accuracy averaged over its probe seeds,
Tr(H), the gap); then
- `compare_arms(a, b, value)`: arm a minus arm b at their final checkpoints;
- `within_run_change(arm, value, spans)`: the change between two checkpoints of each run (continued training),
  a one-sample t over runs.
The seed design decides the test of a difference (`seed_design`): runs with their own streams (train.arms gives
every run its own initialisation, data, masks, adversary split and probe data) are independent, so arms are
compared by Welch's t; runs of different arms that share a pre-training seed (run directories of the earlier design,
where seed k of every arm used the same streams) are paired by seed, and the difference is a one-sample t over the
per-seed differences. Both return a `Comparison`, which carries n and the between-seed SD (for the power
statement); with one run on a side it holds only the single measurement's own interval (probe or estimator noise,
flatness_jax.analysis.points), which no verdict rests on.
"""
import dataclasses
from typing import Optional

import numpy as np

from flatness_jax.analysis import points as points_lib, stats

INDEPENDENT, PAIRED = "independent", "paired"


@dataclasses.dataclass
class Arm:
  """The runs (one per pre-training seed) of one arm on one language, with their measured points."""
  name: str
  runs: list          # run names, sorted
  points: list        # every measured point of those runs
  language: str = ""

  @property
  def num_seeds(self) -> int:
    return len(self.runs)

  @property
  def num_params(self) -> int:
    return max((p.num_params for p in self.points), default=0)

  @property
  def config(self) -> dict:
    """The recorded config of the arm's first run ({} when none was recorded)."""
    return next((p.config for p in self.points if p.config), {})

  @property
  def algorithm(self) -> str:
    return self.config.get("train", {}).get("algorithm", "")

  @property
  def reference(self) -> str:
    """The arm whose gap this arm's adversarial λ tracked (adversarial.match_gap_of), or ''."""
    return self.config.get("adversarial", {}).get("match_gap_of", "")

  @property
  def is_adversarial(self) -> bool:
    return self.algorithm == "adversarial" or (not self.algorithm and "adversarial" in self.name)

  def run_points(self, run: str) -> list:
    return sorted((p for p in self.points if p.run == run), key=lambda p: p.step)

  def finals(self) -> list:
    """The newest measured point of each run."""
    return [self.run_points(r)[-1] for r in self.runs if self.run_points(r)]


def arms_of(pts) -> list[Arm]:
  """Arms keyed by (language, arm name), sorted by them (so no result depends on the order of the records)."""
  arms = {}
  for p in pts:
    arm = arms.setdefault((p.language, p.arm), Arm(p.arm, [], [], p.language))
    if p.run not in arm.runs:
      arm.runs.append(p.run)
    arm.points.append(p)
  for arm in arms.values():
    arm.runs.sort()
  return [arms[k] for k in sorted(arms)]


def seed_design(arms) -> str:
  """PAIRED when runs of two different arms of one language share a pre-training seed, else INDEPENDENT."""
  owners = {}
  for arm in arms:
    for p in arm.finals():
      owners.setdefault((arm.language, p.seed), set()).add(arm.name)
  return PAIRED if any(len(names) > 1 for names in owners.values()) else INDEPENDENT


def cluster_of(p, design: str) -> str:
  """The resampling unit of a point: its run, or its seed block under the paired design."""
  return f"{p.language}/seed {p.seed}" if design == PAIRED else p.run


@dataclasses.dataclass
class Comparison:
  """An estimate with its test over pre-training runs (`test`; None below two runs a side), or a one-run
  measurement's own 95% interval (`single`)."""
  estimate: float
  test: Optional[stats.TTest]
  n_a: int                 # runs on side a (the arm, or the runs of a within-run change)
  n_b: int = 0             # runs on side b; 0 for a within-run change
  sd: float = float("nan")  # between-run SD of the compared values (pooled; of the differences when paired)
  two_arms: bool = True    # whether more runs are needed on each of two arms (power.runs_needed)
  single: Optional[tuple] = None  # (low, high) of a single measurement
  paired: bool = False

  @property
  def tested(self) -> bool:
    return self.test is not None

  def interval(self, level: float = 0.95) -> tuple:
    if self.test is not None:
      return self.test.interval(level)
    return self.single if self.single is not None else (float("nan"), float("nan"))

  @property
  def runs(self) -> int:
    return self.n_a + self.n_b

  @property
  def n_text(self) -> str:
    if self.paired:
      seeds = f"{self.n_a} seeds, paired"
    else:
      seeds = f"{self.n_a} vs {self.n_b} seeds" if self.n_b else f"{self.n_a} seeds"
    return seeds if self.tested else f"{seeds} (probe/estimator noise only)"


def _finite(values):
  return np.asarray([x for x in values if x is not None and np.isfinite(x)], np.float64)


def _sd(values) -> float:
  return float(values.std(ddof=1)) if len(values) >= 2 else float("nan")


def compare_values(a, b, single=None) -> Optional[Comparison]:
  """Welch over the replicates a, b (values per seed); with one on a side, the `single` measurement
  (estimate, low, high) untested, or None."""
  a, b = _finite(a), _finite(b)
  if len(a) >= 2 and len(b) >= 2:
    test = stats.welch_test(a, b)
    return Comparison(test.estimate, test, len(a), len(b), float(np.sqrt((_sd(a) ** 2 + _sd(b) ** 2) / 2)))
  if len(a) and len(b) and single is not None:
    return Comparison(single[0], None, len(a), len(b), single=tuple(single[1:]))
  return None


def compare_paired(a: dict, b: dict) -> Optional[Comparison]:
  """a − b paired by seed ({seed: value}): one-sample t over the seeds both have (≥ 2), or None."""
  diffs = _finite([a[s] - b[s] for s in sorted(set(a) & set(b))])
  if len(diffs) < 2:
    return None
  test = stats.one_sample_test(diffs)
  return Comparison(test.estimate, test, len(diffs), 0, _sd(diffs), two_arms=False, paired=True)


def compare_arms(a: Arm, b: Arm, value, single=None, design: str = INDEPENDENT) -> Optional[Comparison]:
  """a − b at the final checkpoints, value(point) per seed; single(pa, pb) gives the one-seed measurement."""
  fa, fb = a.finals(), b.finals()
  if design == PAIRED:
    paired = compare_paired({p.seed: value(p) for p in fa}, {p.seed: value(p) for p in fb})
    if paired is not None:
      return paired
  one = single(fa[0], fb[0]) if single and len(fa) == 1 and len(fb) == 1 else None
  return compare_values([value(p) for p in fa], [value(p) for p in fb], one)


def within_run_change(arm: Arm, value, spans: dict, single=None) -> Optional[Comparison]:
  """Per run r with spans[r] = (first, last) points: value(last) − value(first); mean over runs with a one-sample
  t interval. One run: single(first, last) as an untested measurement."""
  pairs = [spans[r] for r in arm.runs if r in spans]
  diffs = _finite([value(last) - value(first) for first, last in pairs])
  if len(diffs) >= 2:
    test = stats.one_sample_test(diffs)
    return Comparison(test.estimate, test, len(diffs), 0, _sd(diffs), two_arms=False)
  if len(diffs) == 1 and single is not None:
    first, last = pairs[0]
    s = single(last, first)
    return Comparison(s[0], None, 1, 0, single=tuple(s[1:])) if s else None
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
  inner = _finite([within(p) for p in finals])
  return _sd(vals), float(inner.mean()) if len(inner) else float("nan")


def single_accuracy(task):
  return lambda a, b: points_lib.accuracy_difference(a, b, task)


def single_trace(key):
  return lambda a, b: points_lib.trace_difference(a, b, key)
