"""Training algorithms at fixed size (Liu et al. 2023, Tables 1–2): every arm against the reference arm of the same
parameter count and language (flatness_jax.analysis.findings.reference_arm; an adversarial arm against the arm its
λ tracked), at their final measured checkpoints.

Per arm: Δgap (% of L*), ΔTr(H) and Δaccuracy per task with 95% intervals. With ≥ 2 pre-training seeds on both sides
the interval is over seeds (Welch's t for independent runs, paired by seed when arms share their seeds); with one
seed it is the single measurement's own noise (probe seeds; estimator probes; the per-pair held-out loss difference
for Δgap), marked "1 seed". Whether the losses are equal is shown, not assumed: Δgap with its interval.
"""
from flatness_jax.analysis import findings, points, replicates
from flatness_jax.analysis.tables import ci


def fixed_size_lines(arms, tasks, trace_key: str) -> list[str]:
  """A markdown table of each arm minus the reference arm of its size, or [] if no size has two arms."""
  groups = {}
  for arm in arms:
    groups.setdefault((arm.language, arm.num_params), []).append(arm)
  groups = {k: g for k, g in sorted(groups.items()) if len(g) >= 2}
  if not groups:
    return []
  design = replicates.seed_design(arms)
  head = ["arm − reference", "params", "seeds", "Δgap % of L*", "ΔTr(H)"] + [f"Δacc {t} (pts)" for t in tasks]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  def cell(c, scale=1.0, digits=2):
    return ci((c.estimate, *c.interval()), scale, digits) if c else "–"
  for (_, n), group in groups.items():
    ref = findings.reference_arm(group)
    names = {a.name: a for a in group}
    for arm in sorted(group, key=lambda a: a.name):
      if arm is ref:
        continue
      base = names.get(arm.reference, ref)
      compare = lambda value, single, arm=arm, base=base: replicates.compare_arms(arm, base, value, single, design)
      cells = [f"{arm.name} − {base.name}", f"{n:,}", f"{arm.num_seeds} vs {base.num_seeds}",
               cell(compare(replicates.gap_of, points.gap_difference), 100),
               cell(compare(replicates.trace_of(trace_key), replicates.single_trace(trace_key)))]
      for t in tasks:
        cells.append(cell(compare(replicates.accuracy_of(t), replicates.single_accuracy(t)), 100, 1))
      lines.append("| " + " | ".join(cells) + " |")
  single = any(min(a.num_seeds for a in g) < 2 for g in groups.values())
  over = "paired by seed" if design == replicates.PAIRED else "Welch"
  lines += ["", f"Δ = arm minus the reference arm of its size; 95% intervals over pre-training seeds ({over})."
            + (" Rows with one seed on a side show the single measurement's own noise (probe seeds, "
               "estimator probes, paired held-out losses): no verdict rests on them." if single else "")]
  return lines
