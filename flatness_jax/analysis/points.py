"""Flatten run directories into measurement points: one per (run, checkpoint step) that has measurements.

A point joins what the jobs wrote for the same checkpoint: the held-out evaluation in metrics.jsonl (loss, gap ± SE),
its per-pair held-out losses (heldout_losses.npz), curvature.json (Tr(H) estimates, Fisher, λ_max, downstream
traces) and probes.json (accuracy mean ± std per task). Each point knows its run, the run's arm (what the run
replicates: a size or an algorithm) and its pre-training seed. Reports, correlations and iso-loss matching all work
on these points, so they are built from disk, never memory.

The differences here are *measurements* of one pair of checkpoints, with intervals from their own noise (probe
seeds: Welch t; estimator probes: t on the estimator's degrees of freedom; held-out loss: the per-pair difference).
They are not replicated across pre-training seeds: flatness_jax.analysis.replicates makes the seed-level
comparisons that verdicts rest on.
"""
import dataclasses
from typing import Optional

import numpy as np

from flatness_jax.analysis import stats
from flatness_jax.rundir import pair_losses, reader, records


@dataclasses.dataclass
class Point:
  run: str
  step: int
  num_params: int
  eval: records.Evaluation                  # the held-out evaluation at this step
  curvature: records.Curvature              # curvature.json's entry (an empty Curvature if none)
  probes: records.CheckpointProbes          # probes.json's entry (empty if none)
  arm: str = ""         # the arm the run replicates ('' : the run itself)
  seed: int = 0         # the run's pre-training seed
  language: str = ""
  pairs: Optional[pair_losses.PairLosses] = None  # per-pair held-out losses of the run (None without the file)
  config: dict = dataclasses.field(default_factory=dict, repr=False)  # the run's recorded config

  def __post_init__(self):
    self.arm = self.arm or self.run

  def trace(self, name: str = records.HUTCHINSON):
    """(value, stderr) of a curvature estimate (records.Curvature.estimate names), or (nan, nan)."""
    e = self.curvature.estimate(name)
    return e.value, e.stderr

  def trace_dof(self, name: str = records.HUTCHINSON) -> float:
    """Degrees of freedom of the estimate's SE."""
    return self.curvature.estimate(name).dof

  def accuracy(self, task: str):
    """(mean, std, number of seeds) of the task's probe accuracy, or (nan, nan, 0)."""
    a = self.probes.accuracy(task)
    return a.mean, a.std, a.num_seeds

  def finetune_accuracy(self, task: str):
    """(mean, std, number of seeds) of the task's whole-model fine-tuning accuracy, or (nan, nan, 0)."""
    a = self.probes.finetune_accuracy(task)
    return a.mean, a.std, a.num_seeds

  def pair_losses(self):
    """The per-pair held-out losses [n] at this step, or None."""
    return None if self.pairs is None else self.pairs.at(self.step)


def accuracy_difference(a: Point, b: Point, task: str):
  """(a − b, low, high): 95% Welch-t interval of the difference of mean probe accuracies over probe seeds, or None.

  Probe noise only: one checkpoint of each run, so this is a measurement, not a replicated comparison.
  """
  (ma, sa, na), (mb, sb, nb) = a.accuracy(task), b.accuracy(task)
  if not (na and nb):
    return None
  return stats.difference_ci(ma, sa / np.sqrt(na), mb, sb / np.sqrt(nb), df_a=na - 1, df_b=nb - 1)


def trace_difference(a: Point, b: Point, key: str = records.HUTCHINSON):
  """(a − b, low, high): 95% interval of the difference of two curvature estimates (independent errors, t on the
  estimators' degrees of freedom), or None."""
  (ta, ea), (tb, eb) = a.trace(key), b.trace(key)
  if not (np.isfinite(ta) and np.isfinite(tb)):
    return None
  return stats.difference_ci(ta, ea, tb, eb, df_a=a.trace_dof(key), df_b=b.trace_dof(key))


def paired_loss_difference(a: Point, b: Point):
  """(mean ℓᵃ − ℓᵇ, its SE, n) over the held-out pairs both runs were scored on, or None without per-pair losses
  on the same pairs."""
  la, lb = a.pair_losses(), b.pair_losses()
  if la is None or lb is None or a.pairs.digest != b.pairs.digest:
    return None
  d = np.asarray(la, np.float64) - np.asarray(lb, np.float64)
  return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))), len(d)


def gap_difference(a: Point, b: Point, level: float = 0.95):
  """(a − b, low, high) of the relative gaps (fraction of L*) at confidence `level`: paired over the same held-out
  pairs when both runs saved per-pair losses (the right SE: both were scored on the same pairs), else from the two
  gaps' SEs."""
  paired = paired_loss_difference(a, b)
  if paired is not None:
    d, se, n = paired
    opt = float(np.mean(a.pairs.optimal))
    q = stats.t_quantile(n - 1, level)
    return d / opt, (d - q * se) / opt, (d + q * se) / opt
  return stats.difference_ci(a.eval.gap_relative, a.eval.gap_relative_se, b.eval.gap_relative,
                             b.eval.gap_relative_se, level)


def points_of(run: reader.RunRecord) -> list[Point]:
  """Points for every step that has a curvature or probe measurement (and its held-out evaluation)."""
  return [Point(run=run.name, step=s, num_params=run.num_params, eval=run.evaluations[s],
                curvature=run.curvature.get(s) or records.Curvature(step=s),
                probes=run.probes.steps.get(s) or records.CheckpointProbes(step=s), arm=run.arm, seed=run.seed,
                language=run.language, pairs=run.pairs, config=run.config)
          for s in run.measured_steps()]
