"""Training algorithms at fixed size (Liu et al. 2023, Tables 1–2): every run against a reference run of the same
parameter count, at their final measured checkpoints.

Per run: Δgap (% of L*), ΔTr(H) and Δaccuracy per task with 95% CIs (normal approximation; accuracy SEs over
probe seeds, trace SEs over probes, independent runs) and the verdict of the flatness difference. The paper's
reading: at equal loss, the flatter algorithm transfers better (e.g. AdamW vs adversarial pre-training: Tr(H)
8.0 vs 19.3, task C 55.7 vs 50.2). Whether the losses are equal is shown, not assumed: Δgap with its CI.
"""

from flatness_jax.analysis import points, sizes, stats
from flatness_jax.analysis.tables import ci


def fixed_size_lines(pts, tasks, trace_key: str) -> list[str]:
  """A markdown table of each run minus the first run of its parameter count, or [] if no size has two runs."""
  finals = sizes.final_points(pts)
  order = {p.run: i for i, p in enumerate(pts)}
  groups = {}
  for p in sorted(finals, key=lambda p: order[p.run]):
    groups.setdefault(p.num_params, []).append(p)
  groups = {n: g for n, g in groups.items() if len(g) >= 2}
  if not groups:
    return []
  head = ["run − reference", "params", "Δgap % of L*", "ΔTr(H)"] + [f"Δacc {t} (pts)" for t in tasks]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for n, (ref, *others) in sorted(groups.items()):
    for p in others:
      gap = stats.difference_ci(p.eval["gap_relative"], p.eval["gap_relative_se"], ref.eval["gap_relative"],
                                ref.eval["gap_relative_se"])
      trace = points.trace_difference(p, ref, trace_key)
      cells = [f"{p.run} − {ref.run}", f"{n:,}", ci(gap, 100), ci(trace) if trace else "–"]
      for t in tasks:
        acc = points.accuracy_difference(p, ref, t)
        cells.append(ci(acc, 100, 1) if acc else "–")
      lines.append("| " + " | ".join(cells) + " |")
  lines += ["", "Δ = run minus the reference run (the first run of that size); 95% CIs. Accuracy differences count "
            "probe-seed noise only (one pre-training run each), so they understate run-to-run variation."]
  return lines
