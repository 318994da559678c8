"""Iso-loss matching: the paper's question asked at any loss level, not only at saturation.

Two checkpoints from different runs are *matched* when their held-out losses (on the same fixed held-out pairs)
differ by at most `tol` standard errors of the difference, |ℓ_a − ℓ_b| ≤ tol·√(se_a² + se_b²) (se: the paired gap
SE of each). For each matched pair the report shows the accuracy difference (SE from the probe seeds) and the
Tr(H) difference (SE from the estimators), each with a normal 95% interval: at equal pre-training loss, is one
model better downstream, and is it flatter?
"""
import numpy as np

from flatness_jax.analysis import points
from flatness_jax.analysis.tables import ci


def matched_pairs(points, tol: float = 1.0):
  """[(a, b)] pairs of points from different runs whose losses agree within `tol` SEs; each point used once,
  closest pairs first."""
  cands = []
  for i, a in enumerate(points):
    for b in points[i + 1:]:
      if a.run == b.run:
        continue
      diff = abs(a.eval["eval_loss"] - b.eval["eval_loss"])
      se = float(np.hypot(a.eval["gap_se"], b.eval["gap_se"]))
      if diff <= tol * se:
        cands.append((diff / max(se, 1e-12), a, b))
  used, out = set(), []
  for _, a, b in sorted(cands, key=lambda c: c[0]):
    if id(a) in used or id(b) in used:
      continue
    used.update((id(a), id(b)))
    # Order each pair larger-model first (then later step), so differences read "bigger/longer minus smaller".
    if (b.num_params, b.step) > (a.num_params, a.step):
      a, b = b, a
    out.append((a, b))
  return out


def pair_rows(pairs, tasks, trace_key="hessian_trace_hutchinson"):
  """Per matched pair: loss difference, accuracy differences per task and Tr(H) difference with 95% CIs."""
  rows = []
  for a, b in pairs:
    row = {"a": f"{a.run}@{a.step}", "b": f"{b.run}@{b.step}",
           "loss_diff": a.eval["eval_loss"] - b.eval["eval_loss"]}
    for t in tasks:
      d = points.accuracy_difference(a, b, t)
      if d:
        row[f"acc_{t}"] = d
    d = points.trace_difference(a, b, trace_key)
    if d:
      row["trace"] = d
    rows.append(row)
  return rows


def isoloss_lines(points, tasks, tol: float, trace_key="hessian_trace_hutchinson") -> list[str]:
  """The report's iso-loss table: one row per matched pair (Δloss, Δaccuracy per task and ΔTr(H) with CIs)."""
  pairs = matched_pairs(points, tol)
  if not pairs:
    return ["No checkpoints of different runs match in loss at this tolerance."]
  head = ["a", "b", "Δloss"] + [f"Δacc {t} (pts)" for t in tasks] + ["ΔTr(H)"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for row in pair_rows(pairs, tasks, trace_key):
    cells = [row["a"], row["b"], f"{row['loss_diff']:+.4f}"]
    cells += [ci(row[f"acc_{t}"], 100, 1) if f"acc_{t}" in row else "–" for t in tasks]
    cells.append(ci(row["trace"]) if "trace" in row else "–")
    lines.append("| " + " | ".join(cells) + " |")
  return lines
