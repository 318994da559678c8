"""How many of a tier's training steps come after each run is within the saturation gap: the measured ground for a
recipe with fewer steps (issue: the cpu tier in half the time).

For a run with held-out evaluations (step s, relative gap g_s = (L̂_s − L*) / L*, flatness_jax.train.heldout),
`settled_step` is the first evaluated step from which every later evaluation has g ≤ saturated_gap (the report's
'converged' gate on the loss, flatness_jax.analysis.gates.converged): None when the last evaluation is outside it.
The steps after it are those a stop-at-the-gap rule would not have trained; `table` gives them per experiment ×
language × arm, and per tier the share of training run-time they took (each run's wall time × its share of steps
after its settled step, over all runs' wall time). It is an upper bound on what such a rule saves, not a proposal:
`continued` trains past the gap by design (training longer after convergence is its claim), and equal-loss
comparisons need every arm at the loss the slowest reaches.
"""
import math

NEVER = "—"


def settled_step(evaluations: dict, saturated_gap: float):
  """The first evaluated step from which every evaluation (by step) has gap_relative ≤ saturated_gap; None when
  the last one does not (or there are none)."""
  settled = None
  for step in sorted(evaluations, reverse=True):
    g = evaluations[step].gap_relative
    if not (math.isfinite(g) and g <= saturated_gap):
      break
    settled = step
  return settled


def _steps(run) -> int:
  if run.summary is not None:
    return int(run.summary.steps)
  return max(run.evaluations, default=0)


def past_fraction(run, saturated_gap: float) -> float:
  """Share of the run's training steps after its settled step (0 when it never settled or has no steps)."""
  steps, settled = _steps(run), settled_step(run.evaluations, saturated_gap)
  if settled is None or steps <= 0:
    return 0.0
  return max(steps - settled, 0) / steps


def _wall(run) -> float:
  w = run.summary.wall_seconds if run.summary is not None else float("nan")
  return float(w) if math.isfinite(w) else 0.0


def table(cells) -> list[str]:
  """Markdown lines: cells are (experiment, language, saturated_gap, runs); one row per arm (runs in order of first
  appearance) with its steps, each seed's settled step, final gap in % of L* per seed and the mean share of steps
  past the settled step; then the tier's share of training run-time past it (module docstring)."""
  head = ["experiment", "language", "arm", "gap gate", "steps", "within the gate from step (per seed)",
          "final gap % of L* (per seed)", "steps past it"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  wall = past = 0.0
  for exp, lang, gap, runs in cells:
    arms = {}
    for r in runs:
      arms.setdefault(r.arm, []).append(r)
    for arm, group in arms.items():
      steps = sorted({_steps(r) for r in group})
      settled = [settled_step(r.evaluations, gap) for r in group]
      finals = [r.summary.final_gap_relative if r.summary is not None else float("nan") for r in group]
      fractions = [past_fraction(r, gap) for r in group]
      lines.append(f"| {exp} | {lang} | {arm} | {gap:.1%} | {', '.join(map(str, steps))} | "
                   + ", ".join(NEVER if s is None else str(s) for s in settled) + " | "
                   + ", ".join(f"{100 * f:.2f}" for f in finals) + f" | {sum(fractions) / len(fractions):.0%} |")
      for r, f in zip(group, fractions):
        wall += _wall(r)
        past += _wall(r) * f
  share = f"{past / wall:.0%}" if wall > 0 else NEVER
  lines += ["", f"Training run-time past the gate: {past / 60:.1f} of {wall / 60:.1f} run-minutes ({share}); "
            "run-minutes are each run's own wall time (runs trained two at a time overlap)."]
  return lines
