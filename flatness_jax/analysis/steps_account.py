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

A recipe is one step count for every seed of an arm, so the most a stop-at-the-gap recipe saves on an arm is bounded
by its slowest seed: `recipe_step` is the largest settled step of the arm's seeds (None when a seed never settles, and
for `continued`, BY_DESIGN). The table's recipe column gives it, and its last line the run-minutes after it and, at
each cell's measured overlap (the cell's training minutes over its runs' run-minutes), the tier's training minutes
after it. Both are read at the schedules these runs used, and bound what a recipe saves from above: a shorter
cosine that ends at the bound ends close to these runs' gap at that step (slightly below it), so at the gate's edge or
past it, with its earlier measured checkpoints outside (the cuts tried: git log of experiments/configs/paper.py).
"""
import math

NEVER = "—"
BY_DESIGN = ("continued",)  # experiments whose claim is training past the gap: no recipe stops them at it


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


def recipe_step(runs, saturated_gap: float):
  """The slowest seed's settled step of one arm's runs: the earliest step one step count for all of them could
  stop at with every seed within the gate (None when a seed never settles, or there are no runs)."""
  return _slowest([settled_step(r.evaluations, saturated_gap) for r in runs])


def _slowest(settled: list):
  """The largest of the seeds' settled steps; None when one is None or there are none."""
  return None if not settled or None in settled else max(settled)


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
  """Markdown lines: cells are (experiment, language, saturated_gap, runs[, cell training seconds]); one row per arm
  (runs in order of first appearance) with its steps, each seed's settled step, final gap in % of L* per seed, the
  mean share of steps past the settled step and the arm's recipe bound (`recipe_step`; module docstring); then the
  tier's share of training run-time past the settled steps and what stopping every arm at its recipe bound saves."""
  head = ["experiment", "language", "arm", "gap gate", "steps", "within the gate from step (per seed)",
          "final gap % of L* (per seed)", "steps past it", "one step count for every seed (slowest seed)"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  wall = past = recipe_run = recipe_cell = cell_train = 0.0
  for exp, lang, gap, runs, *account in cells:
    arms = {}
    for r in runs:
      arms.setdefault(r.arm, []).append(r)
    trained, cell_wall = (account[0] or 0.0) if account else 0.0, sum(_wall(r) for r in runs)
    overlap = trained / cell_wall if cell_wall > 0 else 0.0
    cell_train += trained
    for arm, group in arms.items():
      steps = sorted({_steps(r) for r in group})
      settled = [settled_step(r.evaluations, gap) for r in group]
      finals = [r.summary.final_gap_relative if r.summary is not None else float("nan") for r in group]
      fractions = [past_fraction(r, gap) for r in group]
      bound = None if exp in BY_DESIGN else _slowest(settled)  # recipe_step, from the settled steps at hand
      saved = 0.0 if bound is None else sum(_wall(r) * max(_steps(r) - bound, 0) / _steps(r)
                                            for r in group if _steps(r) > 0)
      recipe_run += saved
      recipe_cell += saved * overlap
      column = (f"{NEVER} (training past the gap is the claim)" if exp in BY_DESIGN else
                NEVER if bound is None else f"{bound} ({-sum(map(_steps, group)) / len(group) + bound:+.0f} steps, "
                f"{saved / 60:.1f} run-min)")
      lines.append(f"| {exp} | {lang} | {arm} | {gap:.1%} | {', '.join(map(str, steps))} | "
                   + ", ".join(NEVER if s is None else str(s) for s in settled) + " | "
                   + ", ".join(f"{100 * f:.2f}" for f in finals) + f" | {sum(fractions) / len(fractions):.0%} | "
                   + column + " |")
      for r, f in zip(group, fractions):
        wall += _wall(r)
        past += _wall(r) * f
  share = f"{past / wall:.0%}" if wall > 0 else NEVER
  lines += ["", f"Training run-time past the gate: {past / 60:.1f} of {wall / 60:.1f} run-minutes ({share}); "
            "run-minutes are each run's own wall time (runs trained two at a time overlap)."]
  if cell_train > 0:
    lines += ["", f"Every arm stopped at its slowest seed's settled step (but `continued`, and arms with a seed "
              f"never within the gate): {recipe_run / 60:.1f} run-minutes fewer; at each cell's measured overlap, "
              f"{recipe_cell / 60:.1f} of the tier's {cell_train / 60:.1f} training minutes (stages.md), "
              "at these runs' schedules (an upper bound: a shorter cosine ending there ends at the gate's edge)."]
  return lines
