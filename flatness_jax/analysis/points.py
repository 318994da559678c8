"""Flatten run directories into measurement points: one per (run, checkpoint step) that has measurements.

A point joins what the jobs wrote for the same checkpoint: the held-out evaluation in metrics.jsonl (loss, gap ± SE),
curvature.json (Tr(H) estimates, Fisher, λ_max, downstream traces) and probes.json (accuracy mean ± std per task).
Reports, correlations and iso-loss matching all work on these points, so they are built from disk, never memory.
"""
import dataclasses
import os

import numpy as np

from flatness_jax.analysis import stats
from flatness_jax.rundir import jsonio, rundir


@dataclasses.dataclass
class Point:
  run: str
  step: int
  num_params: int
  eval: dict            # held-out row: eval_loss, gap, gap_se, gap_relative, ...
  curvature: dict       # curvature.json entry for the step ({} if none)
  probes: dict          # probes.json entry for the step ({} if none)

  def trace(self, key: str = "hessian_trace_hutchinson"):
    """(value, stderr) of a curvature estimate, or (nan, nan)."""
    e = self.curvature.get(key) or {}
    return e.get("value", np.nan), e.get("stderr", np.nan)

  def accuracy(self, task: str):
    """(mean, std, number of seeds) of the task's probe accuracy, or (nan, nan, 0)."""
    e = self.probes.get(task) or {}
    return e.get("accuracy_mean", np.nan), e.get("accuracy_std", np.nan), len(e.get("accuracy_per_seed", []))

  def finetune_accuracy(self, task: str):
    """(mean, std, number of seeds) of the task's whole-model fine-tuning accuracy, or (nan, nan, 0)."""
    e = (self.probes.get("finetune") or {}).get(task) or {}
    return e.get("accuracy_mean", np.nan), e.get("accuracy_std", np.nan), len(e.get("accuracy_per_seed", []))


def accuracy_difference(a: Point, b: Point, task: str):
  """(a − b, low, high): 95% CI of the difference of mean probe accuracies (SEs over probe seeds), or None."""
  (ma, sa, na), (mb, sb, nb) = a.accuracy(task), b.accuracy(task)
  if not (na and nb):
    return None
  return stats.difference_ci(ma, sa / np.sqrt(na), mb, sb / np.sqrt(nb))


def trace_difference(a: Point, b: Point, key: str):
  """(a − b, low, high): 95% CI of the difference of two curvature estimates (independent errors), or None."""
  (ta, ea), (tb, eb) = a.trace(key), b.trace(key)
  if not (np.isfinite(ta) and np.isfinite(tb)):
    return None
  return stats.difference_ci(ta, ea, tb, eb)


def load_run(workdir: str) -> dict:
  """{'name', 'summary', 'evals': {step: row}, 'curvature': {...}, 'probes': {...}} of one run directory."""
  path = lambda name: os.path.join(workdir, name)  # pylint: disable=unnecessary-lambda-assignment
  rows = jsonio.read_jsonl(path(rundir.METRICS))
  evals = {r["step"]: r for r in rows if "gap" in r}
  return {"name": os.path.basename(os.path.normpath(workdir)), "workdir": workdir,
          "summary": jsonio.read_json(path(rundir.SUMMARY), {}),
          "config": jsonio.read_json(path(rundir.CONFIG), {}),
          "evals": evals,
          "curvature": jsonio.read_json(path(rundir.CURVATURE), {}).get("steps", {}),
          "probes": jsonio.read_json(path(rundir.PROBES), {})}


def points_of(run: dict) -> list[Point]:
  """Points for every step that has a curvature or probe measurement (and its held-out evaluation)."""
  probe_steps = run["probes"].get("steps", {})
  steps = sorted({int(s) for s in run["curvature"]} | {int(s) for s in probe_steps})
  out = []
  for s in steps:
    if s not in run["evals"]:
      continue
    out.append(Point(run=run["name"], step=s, num_params=int(run["summary"].get("num_params", 0)),
                     eval=run["evals"][s], curvature=run["curvature"].get(str(s), {}),
                     probes=probe_steps.get(str(s), {})))
  return out


def find_run_dirs(root: str) -> list[str]:
  """Run directories (those with config.json and metrics.jsonl) at or below `root`, sorted."""
  found = []
  for dirpath, _, files in os.walk(root):
    if rundir.CONFIG in files and rundir.METRICS in files:
      found.append(dirpath)
  return sorted(found)
