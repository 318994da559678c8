"""Training algorithms at fixed size (Liu et al. 2023, Tables 1–2): every arm against the first arm of the same
parameter count, at their final measured checkpoints.

Per arm: Δgap (% of L*), ΔTr(H) and Δaccuracy per task with 95% intervals. With ≥ 2 pre-training seeds on both sides
the interval is Welch's t over seeds (accuracy: each seed's mean over its probe seeds); with one seed it is the
single measurement's own noise (probe seeds; estimator probes; the per-pair held-out loss difference for Δgap),
marked "1 seed". Whether the losses are equal is shown, not assumed: Δgap with its interval.
"""
from flatness_jax.analysis import points, replicates
from flatness_jax.analysis.tables import ci


def fixed_size_lines(arms, tasks, trace_key: str) -> list[str]:
  """A markdown table of each arm minus the first arm of its parameter count, or [] if no size has two arms."""
  groups = {}
  for arm in arms:
    groups.setdefault(arm.num_params, []).append(arm)
  groups = {n: g for n, g in sorted(groups.items()) if len(g) >= 2}
  if not groups:
    return []
  head = ["arm − reference", "params", "seeds", "Δgap % of L*", "ΔTr(H)"] + [f"Δacc {t} (pts)" for t in tasks]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  cell = lambda c, scale=1.0, digits=2: ci((c.estimate, c.low, c.high), scale, digits) if c else "–"
  for n, (ref, *others) in groups.items():
    for arm in others:
      gap = replicates.compare_arms(arm, ref, replicates.gap_of, points.gap_difference)
      trace = replicates.compare_arms(arm, ref, replicates.trace_of(trace_key), replicates.single_trace(trace_key))
      cells = [f"{arm.name} − {ref.name}", f"{n:,}", f"{arm.num_seeds} vs {ref.num_seeds}", cell(gap, 100),
               cell(trace)]
      for t in tasks:
        cells.append(cell(replicates.compare_arms(arm, ref, replicates.accuracy_of(t),
                                                  replicates.single_accuracy(t)), 100, 1))
      lines.append("| " + " | ".join(cells) + " |")
  single = any(min(a.num_seeds for a in g) < 2 for g in groups.values())
  lines += ["", "Δ = arm minus the reference arm (the first arm of that size); 95% intervals over pre-training seeds "
            "(Welch)." + (" Rows with one seed on a side show the single measurement's own noise (probe seeds, "
                          "estimator probes, paired held-out losses): no verdict rests on them." if single else "")]
  return lines
