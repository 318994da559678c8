"""The paper's figures for one language, from the run records of a tier's experiments (results/<tier>/figures/).

Every point is an arm's mean over its pre-training seeds with ±1 SE over seeds as its error bar (one seed: no bar);
`colors` gives one colour per arm across every figure of a tier.
- `continued` (paper Fig. 1): probe accuracy on the primary task and the held-out gap (% of L*) against steps past
  convergence, the step at which the run's gap first fell within the saturation gap (runs that never did: steps).
- `size` (Fig. 2): final-checkpoint accuracy against parameters (log scale), each size labelled with its gap.
- `trace` (Fig. 5): final-checkpoint accuracy against Tr(H) over the sizes and the algorithms.
- `algorithms`: final-checkpoint accuracy against the held-out gap per algorithm: equal loss is a vertical band.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from flatness_jax.analysis import points as points_lib  # pylint: disable=wrong-import-position
from flatness_jax.analysis import replicates  # pylint: disable=wrong-import-position
from flatness_jax.rundir import records  # pylint: disable=wrong-import-position


def _mean_se(values):
  v = np.asarray([x for x in values if np.isfinite(x)], float)
  if not v.size:
    return np.nan, np.nan
  return float(v.mean()), (float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else np.nan)


def arms_of(runs) -> list:
  return replicates.arms_of([p for r in runs for p in points_lib.points_of(r)])


def _scatter(ax, arms, x_of, y_of, colors, label=lambda a: a.name):
  for arm in arms:
    finals = arm.finals()
    x, xe = _mean_se([x_of(p) for p in finals])
    y, ye = _mean_se([y_of(p) for p in finals])
    if np.isfinite(x) and np.isfinite(y):
      ax.errorbar(x, y, xerr=None if np.isnan(xe) else xe, yerr=None if np.isnan(ye) else ye, fmt="o", capsize=2,
                  color=colors.get(arm.name), label=label(arm))


def _finish(fig, ax, title):
  ax.set_title(title, fontsize=8)
  if ax.get_legend_handles_labels()[0]:
    ax.legend(fontsize=7)
  fig.tight_layout()
  return fig


def continued(runs, task: str, saturated_gap: float, colors):
  """Accuracy (task) and gap against steps past convergence, per arm (Fig. 1), or None without measured runs."""
  arms = arms_of(runs)
  if not arms:
    return None
  by_name = {r.name: r for r in runs}
  fig, (acc_ax, gap_ax) = plt.subplots(1, 2, figsize=(8, 3.2))
  for arm in arms:
    converged = []
    for name in arm.runs:
      evals = by_name[name].evaluations
      hit = [s for s in sorted(evals) if evals[s].gap_relative <= saturated_gap]
      converged.append(hit[0] if hit else 0)
    origin = float(np.mean(converged))
    steps = sorted({p.step for p in arm.points})
    acc = [_mean_se([100 * p.accuracy(task)[0] for p in arm.points if p.step == s]) for s in steps]
    gap = [_mean_se([100 * p.eval.gap_relative for p in arm.points if p.step == s]) for s in steps]
    x = np.asarray(steps, float) - origin
    for ax, series in ((acc_ax, acc), (gap_ax, gap)):
      m, e = np.array([v[0] for v in series]), np.array([v[1] for v in series])
      ax.errorbar(x, m, yerr=np.where(np.isnan(e), 0.0, e), marker="o", ms=3, capsize=2, color=colors.get(arm.name),
                  label=arm.name)
  for ax, label in ((acc_ax, f"probe accuracy, task {task} (%)"), (gap_ax, "held-out gap (% of L*)")):
    ax.set_xlabel(f"steps past convergence (gap ≤ {100 * saturated_gap:g}% of L*)")
    ax.set_ylabel(label)
  return _finish(fig, acc_ax, "continued training: mean ± SE over seeds")


def size(runs, task: str, colors):
  """Final accuracy (task) against parameters per size arm, labelled with the gap (Fig. 2), or None."""
  arms = [a for a in arms_of(runs) if a.num_params]
  if len(arms) < 2:
    return None
  fig, ax = plt.subplots(figsize=(4.5, 3.2))
  gap = lambda a: _mean_se([100 * p.eval.gap_relative for p in a.finals()])[0]  # pylint: disable=g-long-lambda
  _scatter(ax, arms, lambda p: p.num_params, lambda p: 100 * p.accuracy(task)[0], colors,
           label=lambda a: f"{a.name} (gap {gap(a):.2f}% of L*)")
  ax.set_xscale("log")
  ax.set_xlabel("parameters")
  ax.set_ylabel(f"probe accuracy, task {task} (%)")
  return _finish(fig, ax, "model size at (near) equal loss: final checkpoints, mean ± SE over seeds")


def trace(run_groups, task: str, colors, trace_key=records.HUTCHINSON):
  """Final accuracy (task) against Tr(H) over the arms of every group of runs (sizes, algorithms; Fig. 5), or
  None when no arm has both."""
  fig, ax = plt.subplots(figsize=(4.5, 3.2))
  for runs in run_groups:
    _scatter(ax, arms_of(runs), lambda p: p.trace(trace_key)[0], lambda p: 100 * p.accuracy(task)[0], colors)
  if not ax.lines and not ax.collections:
    plt.close(fig)
    return None
  ax.set_xlabel("Tr(H) of the pre-training loss")
  ax.set_ylabel(f"probe accuracy, task {task} (%)")
  return _finish(fig, ax, "sizes and algorithms: final checkpoints, mean ± SE over seeds")


def algorithms(runs, task: str, colors):
  """Final accuracy (task) against the held-out gap per algorithm arm, or None."""
  arms = arms_of(runs)
  if len(arms) < 2:
    return None
  fig, ax = plt.subplots(figsize=(4.5, 3.2))
  _scatter(ax, arms, lambda p: 100 * p.eval.gap_relative, lambda p: 100 * p.accuracy(task)[0], colors)
  ax.set_xlabel("held-out gap (% of L*)")
  ax.set_ylabel(f"probe accuracy, task {task} (%)")
  return _finish(fig, ax, "algorithms at fixed size: final checkpoints, mean ± SE over seeds")
