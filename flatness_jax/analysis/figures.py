"""PNG figures for the report (matplotlib, Agg backend: no display needed).

- `gap_curves`: held-out gap to the optimal loss (% of L*) against steps, one line per run (paper Fig. 1 left).
- `accuracy_vs_trace`: probe accuracy against Tr(H) with error bars, one colour per run (paper Fig. 2–3, 5).
"""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position


def gap_curves(runs, path: str) -> str:
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for r in runs:
    steps = sorted(r["evals"])
    gaps = [100 * r["evals"][s]["gap_relative"] for s in steps]
    ax.plot(steps, gaps, label=r["name"])
  ax.set_yscale("symlog", linthresh=1.0)
  ax.axhline(2.0, color="gray", lw=0.8, ls="--")
  ax.set_xlabel("step")
  ax.set_ylabel("held-out gap to optimal (% of L*)")
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return os.path.basename(path)


def accuracy_vs_trace(points, task: str, path: str, trace_key="hessian_trace_hutchinson") -> str:
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for run in sorted({p.run for p in points}):
    pts = [p for p in points if p.run == run and np.isfinite(p.trace(trace_key)[0])
           and np.isfinite(p.accuracy(task)[0])]
    if not pts:
      continue
    x = [p.trace(trace_key)[0] for p in pts]
    xe = [p.trace(trace_key)[1] for p in pts]
    y = [100 * p.accuracy(task)[0] for p in pts]
    ye = [100 * p.accuracy(task)[1] for p in pts]
    ax.errorbar(x, y, xerr=xe, yerr=ye, fmt="o", ms=4, capsize=2, label=run)
  ax.set_xlabel("Tr(H) of the pre-training loss")
  ax.set_ylabel(f"probe accuracy, task {task} (%)")
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return os.path.basename(path)
