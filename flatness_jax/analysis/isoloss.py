"""Iso-loss matching: the paper's question asked at any loss level, not only at saturation.

Two checkpoints from different runs are *matched* when their held-out losses on the same fixed held-out pairs agree
within `tol` standard errors of their difference. Both were scored on the same pairs, so that SE is the SE of the
per-pair difference, sd_i(ℓᵃᵢ − ℓᵇᵢ)/√n (rundir.pair_losses), far smaller than √(seᵃ² + seᵇ²) when the two models
find the same pairs hard: two models with a small but consistent loss difference are *not* at equal loss. Runs
without per-pair losses fall back to the independent-SE rule, marked "unpaired". For each matched pair the report
shows the accuracy difference (probe seeds, Welch t) and the Tr(H) difference (estimator SEs): at equal
pre-training loss, is one model better downstream, and is it flatter? These are measurements of two checkpoints,
not comparisons over pre-training seeds. Only checkpoints of the same language are matched: losses of different
languages are not on one scale.
"""
import numpy as np

from flatness_jax.analysis import points
from flatness_jax.analysis.tables import ci
from flatness_jax.rundir import records


def loss_difference(a, b):
  """(ℓᵃ − ℓᵇ, its SE, paired?): paired over the held-out pairs when both runs saved them, else independent."""
  paired = points.paired_loss_difference(a, b)
  if paired is not None:
    return paired[0], paired[1], True
  return (a.eval.eval_loss - b.eval.eval_loss, float(np.hypot(a.eval.gap_se, b.eval.gap_se)), False)


def matched_pairs(pts, tol: float = 1.0):
  """[(a, b)] pairs of points from different runs of the same language whose losses agree within `tol` SEs of their
  difference; each point used once, closest pairs first; each pair ordered larger model (then later step) first."""
  cands = []
  for i, a in enumerate(pts):
    for b in pts[i + 1:]:
      if a.run == b.run or a.language != b.language:
        continue
      diff, se, _ = loss_difference(a, b)
      if abs(diff) <= tol * se:
        cands.append((abs(diff) / max(se, 1e-12), a, b))
  used, out = set(), []
  for _, a, b in sorted(cands, key=lambda c: c[0]):
    if id(a) in used or id(b) in used:
      continue
    used.update((id(a), id(b)))
    if (b.num_params, b.step) > (a.num_params, a.step):
      a, b = b, a
    out.append((a, b))
  return out


def pair_rows(pairs, tasks, trace_key=records.HUTCHINSON):
  """Per matched pair: loss difference (and its z), accuracy differences per task and Tr(H) difference with CIs."""
  rows = []
  for a, b in pairs:
    diff, se, paired = loss_difference(a, b)
    row = {"a": f"{a.run}@{a.step}", "b": f"{b.run}@{b.step}", "loss_diff": diff, "loss_z": diff / max(se, 1e-12),
           "paired": paired}
    for t in tasks:
      d = points.accuracy_difference(a, b, t)
      if d:
        row[f"acc_{t}"] = d
    d = points.trace_difference(a, b, trace_key)
    if d:
      row["trace"] = d
    rows.append(row)
  return rows


def isoloss_lines(pts, tasks, tol: float, trace_key=records.HUTCHINSON) -> list[str]:
  """The report's iso-loss table: one row per matched pair (Δloss, Δaccuracy per task and ΔTr(H) with CIs)."""
  pairs = matched_pairs(pts, tol)
  if not pairs:
    return ["No checkpoints of different runs match in loss at this tolerance."]
  head = ["a", "b", "Δloss (z)"] + [f"Δacc {t} (pts)" for t in tasks] + ["ΔTr(H)"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for row in pair_rows(pairs, tasks, trace_key):
    z = f"{row['loss_z']:+.2f}" + ("" if row["paired"] else ", unpaired")
    cells = [row["a"], row["b"], f"{row['loss_diff']:+.4f} ({z})"]
    cells += [ci(row[f"acc_{t}"], 100, 1) if f"acc_{t}" in row else "–" for t in tasks]
    cells.append(ci(row["trace"]) if "trace" in row else "–")
    lines.append("| " + " | ".join(cells) + " |")
  lines += ["", "Matched: |Δloss| ≤ tol × the SE of the per-pair loss difference (the same held-out pairs). Each "
            "row measures one pair of checkpoints (probe and estimator noise), not a replicated comparison."]
  return lines
