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
import os

import numpy as np

from flatness_jax.analysis import stats
from flatness_jax.rundir import jsonio, pair_losses, rundir


@dataclasses.dataclass
class Point:
  run: str
  step: int
  num_params: int
  eval: dict            # held-out row: eval_loss, gap, gap_se, gap_relative, ...
  curvature: dict       # curvature.json entry for the step ({} if none)
  probes: dict          # probes.json entry for the step ({} if none)
  arm: str = ""         # the arm the run replicates ('' : the run itself)
  seed: int = 0         # the run's pre-training seed
  language: str = ""
  pairs: object = None  # rundir.pair_losses.PairLosses of the run (None for runs without the file)

  def __post_init__(self):
    self.arm = self.arm or self.run

  def trace(self, key: str = "hessian_trace_hutchinson"):
    """(value, stderr) of a curvature estimate, or (nan, nan)."""
    e = self.curvature.get(key) or {}
    return e.get("value", np.nan), e.get("stderr", np.nan)

  def trace_dof(self, key: str = "hessian_trace_hutchinson") -> float:
    """Degrees of freedom of the estimate's SE (recorded, else matvecs − 1 or examples − 1, else infinite)."""
    e = self.curvature.get(key) or {}
    if "dof" in e:
      return float(e["dof"])
    n = e.get("matvecs", e.get("gradients"))
    return float(n - 1) if n else float("inf")

  def accuracy(self, task: str):
    """(mean, std, number of seeds) of the task's probe accuracy, or (nan, nan, 0)."""
    e = self.probes.get(task) or {}
    return e.get("accuracy_mean", np.nan), e.get("accuracy_std", np.nan), len(e.get("accuracy_per_seed", []))

  def finetune_accuracy(self, task: str):
    """(mean, std, number of seeds) of the task's whole-model fine-tuning accuracy, or (nan, nan, 0)."""
    e = (self.probes.get("finetune") or {}).get(task) or {}
    return e.get("accuracy_mean", np.nan), e.get("accuracy_std", np.nan), len(e.get("accuracy_per_seed", []))

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


def trace_difference(a: Point, b: Point, key: str):
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


def gap_difference(a: Point, b: Point):
  """(a − b, low, high) of the relative gaps (fraction of L*): paired over the same held-out pairs when both runs
  saved per-pair losses (the right SE: both were scored on the same pairs), else from the two gaps' SEs."""
  paired = paired_loss_difference(a, b)
  if paired is not None:
    d, se, n = paired
    opt = float(np.mean(a.pairs.optimal))
    q = stats.t_quantile(n - 1)
    return d / opt, (d - q * se) / opt, (d + q * se) / opt
  return stats.difference_ci(a.eval["gap_relative"], a.eval["gap_relative_se"], b.eval["gap_relative"],
                             b.eval["gap_relative_se"])


def run_name(workdir: str, config: dict) -> str:
  """'arm' for a single-seed run (or a run without an arm), 'arm/seed_k' for one seed of several."""
  base = os.path.basename(os.path.normpath(workdir))
  arm = config.get("arm")
  return f"{arm}/{base}" if arm and base != arm else base


def load_run(workdir: str) -> dict:
  """{'name', 'arm', 'seed', 'summary', 'config', 'evals': {step: row}, 'curvature', 'probes', 'pairs'}."""
  path = lambda name: os.path.join(workdir, name)  # pylint: disable=unnecessary-lambda-assignment
  rows = jsonio.read_jsonl(path(rundir.METRICS))
  config = jsonio.read_json(path(rundir.CONFIG), {})
  name = run_name(workdir, config)
  return {"name": name, "arm": config.get("arm") or name, "seed": int(config.get("seed", 0)), "workdir": workdir,
          "summary": jsonio.read_json(path(rundir.SUMMARY), {}),
          "config": config,
          "evals": {r["step"]: r for r in rows if "gap" in r},
          "curvature": jsonio.read_json(path(rundir.CURVATURE), {}).get("steps", {}),
          "probes": jsonio.read_json(path(rundir.PROBES), {}),
          "pairs": pair_losses.load(workdir)}


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
                     probes=probe_steps.get(str(s), {}), arm=run.get("arm", ""), seed=run.get("seed", 0),
                     language=run["summary"].get("language", ""), pairs=run.get("pairs")))
  return out


def find_run_dirs(root: str) -> list[str]:
  """Run directories (those with config.json and metrics.jsonl) at or below `root`, sorted."""
  found = []
  for dirpath, _, files in os.walk(root):
    if rundir.CONFIG in files and rundir.METRICS in files:
      found.append(dirpath)
  return sorted(found)
