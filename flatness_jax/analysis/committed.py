"""Did this machine reproduce the committed record? A report's section comparing its runs with results/.

`section(runs, cell_dir)` compares seed 0 of every arm (replicate 0) of `runs` with the compact records committed in
`cell_dir` (results/<tier>/<experiment>/<language>, written by flatness_jax.jobs.results): first the recorded
configs (a run made with another configuration is not a reproduction), then every number both records measured:
the held-out evaluation (loss, gap) at every common step, each Tr(H) estimate and the Fisher trace at every common
checkpoint, and each probe's per-seed accuracies. Numbers agree within RTOL relative (ATOL absolute) tolerance:
CPU training is deterministic, so a difference beyond rounding names a real change (code, library or machine).
The section ends in "matches the committed record" or names the first differences, and then the machines: XLA
compiles float arithmetic for each processor and JAX build (flatness_jax.parallel.machine), so a record made on
another processor or build is expected to differ in its bits from the first step that rounds differently; the
section says when that is so (or that the record does not name its machine), so that such differences are not
read as a change of the code.
"""
import math
import os

from flatness_jax.parallel import machine
from flatness_jax.rundir import compact
from flatness_jax.train import resume

RTOL, ATOL = 1e-4, 1e-7
SHOWN = 5  # differences named in full
# Config fields that say where or how often a run was recorded, not what it computes.
BOOKKEEPING = ("name", "job", "stages", "run_arms", "report")


def _close(a: float, b: float) -> bool:
  if math.isnan(a) and math.isnan(b):
    return True
  return math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)


def differing_fields(mine: dict, theirs: dict) -> list[str]:
  """Dotted fields whose values differ between two recorded configs, in name order; bookkeeping fields and those
  that say only where or how fast the same function trained (flatness_jax.train.resume.RECORD_ONLY: parallel.*,
  the evaluation batch, checkpoints kept) are ignored."""
  a_flat, b_flat = resume.flatten(mine), resume.flatten(theirs)
  return [name for name in sorted(set(a_flat) | set(b_flat))
          if name.split(".")[0] not in BOOKKEEPING and not name.startswith(resume.RECORD_ONLY)
          and a_flat.get(name) != b_flat.get(name)]


def config_differences(mine: dict, theirs: dict) -> list[str]:
  """'field (value here, value committed)' for each of `differing_fields`."""
  a_flat, b_flat = resume.flatten(mine), resume.flatten(theirs)
  return [f"{name} ({a_flat.get(name)!r} here, {b_flat.get(name)!r} committed)"
          for name in differing_fields(mine, theirs)]


def number_differences(mine, theirs) -> list[str]:
  """'what: here vs committed' for every number both run records measured that differs beyond the tolerance."""
  out = []

  def check(what, a, b):
    if not _close(float(a), float(b)):
      out.append(f"{mine.name} {what}: {a:.6g} here, {b:.6g} committed")

  for s in sorted(set(mine.evaluations) & set(theirs.evaluations)):
    for field in ("eval_loss", "gap", "gap_relative"):
      check(f"step {s} {field}", getattr(mine.evaluations[s], field), getattr(theirs.evaluations[s], field))
  for s in sorted(set(mine.curvature) & set(theirs.curvature)):
    a, b = mine.curvature[s], theirs.curvature[s]
    for method in sorted(set(a.hessian) & set(b.hessian)):
      check(f"step {s} Tr(H) {method}", a.hessian[method].value, b.hessian[method].value)
    if a.fisher.present and b.fisher.present:
      check(f"step {s} Fisher trace", a.fisher.value, b.fisher.value)
  for s in sorted(set(mine.probes.steps) & set(theirs.probes.steps)):
    a, b = mine.probes.steps[s], theirs.probes.steps[s]
    for task in sorted(set(a.probes) & set(b.probes)):
      for k, (x, y) in enumerate(zip(a.probes[task].per_seed, b.probes[task].per_seed)):
        check(f"step {s} probe {task} seed {k} accuracy", x, y)
  return out


def machine_lines(recorded, here: dict) -> list[str]:
  """What to say of the machines when seed 0 differs: `recorded` the committed cell's machines (None: not recorded),
  `here` this machine's identity."""
  if not recorded:
    return ["", f"The committed record does not name its machine (recorded before records did); this machine is "
            f"{machine.describe(here)}. Another processor or JAX build changes the bits too."]
  if any(machine.same_bits_expected(m, here) for m in recorded):
    return ["", f"The committed record was made on this kind of machine ({machine.describe(here)}): the same bits "
            "were expected, so the differences come from the code, the libraries or the configuration."]
  return ["", f"The committed record was made on {'; '.join(machine.describe(m) for m in recorded)}; this machine is "
          f"{machine.describe(here)}. XLA compiles float arithmetic for each processor and JAX build, so the bits "
          "are expected to differ from the first step that rounds differently: compare seeds' spread (results/), "
          "not bits, across machines."]


def section(runs, cell_dir: str, here: dict = None) -> list[str]:
  """The report's lines on the committed record in `cell_dir` (a path relative to the current directory); `here`
  this machine (machine.identity() when None)."""
  lines = ["", "## The committed record", ""]
  cell = os.path.join(cell_dir, "cell.json")
  if not os.path.exists(cell):
    return lines + [f"No committed record of this configuration here ({cell_dir} has no cell.json: run from the "
                    "repository root, or commit one with configs/paper.py)."]
  doc = compact.read_json(cell)
  lines.append(f"Committed results of this configuration: [{cell_dir}/report.md]({cell_dir}/report.md) "
               f"(`{doc.get('command', '')}`, commit {doc.get('commit', '?')}).")
  committed = {n: os.path.join(cell_dir, "runs", compact.file_name(n)) for n in doc.get("runs", [])}
  seed0 = [r for r in runs if r.replicate == 0]
  problems, compared = [], 0
  for run in seed0:
    if run.name not in committed:
      problems.append(f"{run.name}: no committed record of this run")
      continue
    theirs = compact.read(committed[run.name])
    differ = config_differences(run.config, theirs.config)
    if differ:
      problems.append(f"{run.name}: made with another configuration: " + "; ".join(differ[:SHOWN]))
      continue
    problems += number_differences(run, theirs)
    compared += 1
  if not problems and compared:
    return lines + [f"Seed 0 of every arm ({', '.join(r.name for r in seed0)}) **matches the committed record** "
                    f"(every evaluation, Tr(H), Fisher trace and probe accuracy within {RTOL:g} relative)."]
  shown = problems[:SHOWN] + ([f"and {len(problems) - SHOWN} more"] if len(problems) > SHOWN else [])
  return lines + [f"Seed 0 **differs from the committed record** ({len(problems)} difference(s)):", ""] + \
      [f"- {p}" for p in shown] + machine_lines(doc.get("machines"), here or machine.identity())

