"""The report's figures as matplotlib Figures (Agg backend: no display needed; the report job saves them as PNG).
One colour per arm in every figure.

- `gap_curves`: held-out gap to the optimal loss (% of L*) against steps, one line per run (paper Fig. 1 left).
- `accuracy_vs_trace`: probe accuracy against Tr(H), one point per arm and checkpoint step: the mean over the arm's
  pre-training seeds with error bars of ±1 SE over seeds (one seed: the run's own probe / estimator SE, drawn
  dashed) (paper Fig. 2–3, 5).
- `continued_curves`: accuracy and Tr(H) against step per arm with seed bands (paper Fig. 1).
- `arm_bars`: final accuracy per arm and task with 95% t intervals over seeds (paper Tables 1–2).
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from flatness_jax.analysis import stats  # pylint: disable=g-import-not-at-top,wrong-import-position
from flatness_jax.rundir import records


def arm_colors(arm_names) -> dict:
  """A fixed colour per arm (tab10 in order of appearance, cycling)."""
  palette = plt.get_cmap("tab10").colors
  return {a: palette[i % len(palette)] for i, a in enumerate(dict.fromkeys(arm_names))}


def _finish(fig):
  fig.tight_layout()
  return fig


def gap_curves(runs, colors=None):
  """Held-out gap (% of L*) against step, one line per run (reader.RunRecord), coloured by arm."""
  colors = colors or arm_colors(r.arm for r in runs)
  fig, ax = plt.subplots(figsize=(5, 3.5))
  labelled = set()
  for r in runs:
    steps = sorted(r.evaluations)
    arm = r.arm
    ax.plot(steps, [100 * r.evaluations[s].gap_relative for s in steps], color=colors.get(arm), lw=1,
            label=None if arm in labelled else arm)
    labelled.add(arm)
  ax.set_yscale("symlog", linthresh=1.0)
  ax.axhline(2.0, color="gray", lw=0.8, ls="--")
  ax.set_xlabel("step")
  ax.set_ylabel("held-out gap to optimal (% of L*)")
  ax.legend(fontsize=7)
  return _finish(fig)


def _seed_mean(values, own_errors):
  """(mean, error bar, replicated?): ±1 SE over seeds, or the single run's own SE."""
  v = np.asarray(values, float)
  if len(v) >= 2:
    return v.mean(), v.std(ddof=1) / np.sqrt(len(v)), True
  return v.mean(), float(own_errors[0]), False


def accuracy_vs_trace(arms, task: str, trace_key=records.HUTCHINSON, colors=None):
  colors = colors or arm_colors(a.name for a in arms)
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for arm in arms:
    steps = sorted({p.step for p in arm.points})
    for i, s in enumerate(steps):
      pts = [p for p in arm.points if p.step == s and np.isfinite(p.trace(trace_key)[0])
             and np.isfinite(p.accuracy(task)[0])]
      if not pts:
        continue
      x, xe, rep = _seed_mean([p.trace(trace_key)[0] for p in pts], [p.trace(trace_key)[1] for p in pts])
      y, ye, _ = _seed_mean([100 * p.accuracy(task)[0] for p in pts],
                            [100 * p.accuracy(task)[1] / np.sqrt(max(p.accuracy(task)[2], 1)) for p in pts])
      bars = ax.errorbar(x, y, xerr=xe, yerr=ye, fmt="o", ms=3 + 3 * i / max(len(steps) - 1, 1), capsize=2,
                         color=colors.get(arm.name), label=arm.name if i == len(steps) - 1 else None)
      if not rep:
        for line in bars[2]:
          line.set_linestyle("--")
  ax.set_xlabel("Tr(H) of the pre-training loss")
  ax.set_ylabel(f"probe accuracy, task {task} (%)")
  ax.set_title("mean over seeds ± SE (larger markers: later steps)", fontsize=7)
  ax.legend(fontsize=7)
  return _finish(fig)


def continued_curves(arms, tasks, trace_key=records.HUTCHINSON, colors=None, min_steps=3):
  """Accuracy per task and Tr(H) against step for arms with ≥ min_steps measured checkpoints, or None."""
  arms = [a for a in arms if len({p.step for p in a.points}) >= min_steps]
  if not arms:
    return None
  colors = colors or arm_colors(a.name for a in arms)
  fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(3.2 * (len(tasks) + 1), 3))
  quantities = [(f"acc {t} (%)", lambda p, t=t: 100 * p.accuracy(t)[0]) for t in tasks]
  quantities.append(("Tr(H)", lambda p: p.trace(trace_key)[0]))
  for ax, (label, value) in zip(np.atleast_1d(axes), quantities):
    for arm in arms:
      steps = sorted({p.step for p in arm.points})
      rows = [[value(p) for p in arm.points if p.step == s] for s in steps]
      mean = np.array([np.nanmean(r) for r in rows])
      se = np.array([np.nanstd(r, ddof=1) / np.sqrt(len(r)) if len(r) > 1 else 0.0 for r in rows])
      ax.plot(steps, mean, color=colors.get(arm.name), label=arm.name)
      ax.fill_between(steps, mean - se, mean + se, color=colors.get(arm.name), alpha=0.25, lw=0)
    ax.set_xlabel("step")
    ax.set_ylabel(label)
  np.atleast_1d(axes)[0].legend(fontsize=7)
  return _finish(fig)


def arm_bars(arms, tasks, colors=None):
  """Final-checkpoint accuracy per arm and task, 95% t intervals over seeds (none drawn for one seed), or None."""
  if len(arms) < 2:
    return None
  colors = colors or arm_colors(a.name for a in arms)
  fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(arms) * len(tasks) / 2, 3.2))
  width = 0.8 / len(arms)
  for j, arm in enumerate(arms):
    finals = arm.finals()
    for i, t in enumerate(tasks):
      vals = [100 * p.accuracy(t)[0] for p in finals if np.isfinite(p.accuracy(t)[0])]
      if not vals:
        continue
      err = None
      if len(vals) >= 2:
        m, lo, hi, _ = stats.mean_ci(vals)
        err = [[m - lo], [hi - m]]
      ax.bar(i + j * width, np.mean(vals), width, yerr=err, capsize=2, color=colors.get(arm.name),
             label=arm.name if i == 0 else None)
  ax.set_xticks(np.arange(len(tasks)) + 0.4 - width / 2, [f"task {t}" for t in tasks])
  ax.set_ylabel("probe accuracy (%), final checkpoint")
  lows = [100 * p.accuracy(t)[0] for a in arms for p in a.finals() for t in tasks if np.isfinite(p.accuracy(t)[0])]
  if lows:
    ax.set_ylim(max(0.0, min(lows) - 5), min(100.0, max(lows) + 3))
  ax.legend(fontsize=7)
  return _finish(fig)
