"""Where an experiment's time goes, by stage, measured or estimated: the per-stage account of a tier's plan.

STAGES are training, compilation, curvature, probes and report. `account(timings)` splits the pipeline's
timings.json (flatness_jax.jobs.timing: wall, XLA compile and trace+lower seconds per stage) into them: each stage's
wall time less its tracing and compilation, which together make `compilation`. A stage that ran on threads beside
others records its thread-seconds (`busy`) and its share of their wall: its compile and trace thread-seconds count
as the same fraction of that share (× wall/busy), so the account of every stage sums to its wall.

`table(rows)` prints the account with each cell's before (its first measurement, kept in cell.json's baseline
when the cell is measured again) and total ÷ before, and the tier's totals both ways.

`estimate(runs)` is the stated cost model for an experiment that has no measured account yet: every model costs
2·P FLOPs per token forward and 3× that with the backward pass (the usual 6·P rule), at an effective RATE FLOP/s
(2 quiet CPU cores running small models); with P the exact parameter count of the resolved model and
T = max_length tokens per sentence:
  training     steps · B · T · 6P · ALGORITHM_COST[algorithm] / RATE per run;
  curvature    per measured checkpoint (matvecs + Lanczos iterations) Hessian-vector products of 4 gradients
               each on `num_pairs` sentences, plus `fisher_examples` per-example gradients;
  probes       per measured checkpoint a forward pass of `num_examples` sentences and PROBE_SECONDS per probe seed
               and task;
  compilation  COMPILE_SECONDS per architecture (training, curvature and probe programs), once per arm;
  report       REPORT_SECONDS.
It is a model, labelled as such wherever it is printed; committed measurements replace it. Where a tier has
committed measurements, `calibration` gives per stage the ratio Σ measured / Σ modelled over those cells, and a
cell not yet run is estimated as the model times that ratio (`calibrated`): the measured cells' machine, cores
(shared or quiet) and overheads carry over to the estimate, which says how many cells it rests on.
"""
import dataclasses

STAGES = ("training", "compilation", "curvature", "probes", "report")
RATE = 1e11                     # effective FLOP/s of 2 quiet CPU cores on the CPU tier's models (an assumption of
#                                 the order of resources.HARDWARE['cpu']; shared cores take longer)
ALGORITHM_COST = {"standard": 1.0, "sam": 2.0, "adversarial": 3.0, "trace_penalty": 20.0}
COMPILE_SECONDS = {"training": 20.0, "curvature": 60.0, "probes": 5.0}
PROBE_SECONDS = 0.3
REPORT_SECONDS = 5.0
_PREFIX = {"train": "training", "curvature": "curvature", "probes": "probes", "report": "report",
           "data_card": "report"}


def account(timings: dict) -> dict:
  """{stage: seconds} of a timings.json document ({stage name: {wall, compile, trace}})."""
  out = dict.fromkeys(STAGES, 0.0)
  for name, t in (timings or {}).items():
    stage = _PREFIX.get(name.split(" ")[0], "report")
    compiled = float(t.get("compile", 0.0)) + float(t.get("trace", 0.0))
    if float(t.get("busy", 0.0)) > 0:  # run on threads beside other stages: thread-seconds → share of its wall
      compiled *= float(t.get("wall", 0.0)) / float(t["busy"])
    out["compilation"] += compiled
    out[stage] += max(float(t.get("wall", 0.0)) - compiled, 0.0)
  return out


@dataclasses.dataclass(frozen=True)
class RunShape:
  """What the cost model needs of one resolved run config: parameters, tokens per sentence, steps, batch, the
  algorithm, checkpoints measured by curvature and probes and their budgets."""
  params: int
  length: int
  steps: int
  batch: int
  algorithm: str
  curvature_steps: int
  matvecs: int
  curvature_pairs: int
  fisher_examples: int
  probe_steps: int
  probe_examples: int
  probe_seeds: int
  probe_tasks: int
  arm: str


def estimate(runs) -> dict:
  """{stage: seconds} of the stated cost model (module docstring) for the RunShapes of one experiment."""
  out = dict.fromkeys(STAGES, 0.0)
  arms = set()
  for r in runs:
    token = 2.0 * r.params  # forward FLOPs per token
    out["training"] += r.steps * r.batch * r.length * 3 * token * ALGORITHM_COST.get(r.algorithm, 1.0) / RATE
    hvp = 4 * 3 * token * r.length * r.curvature_pairs
    out["curvature"] += r.curvature_steps * (r.matvecs * hvp + r.fisher_examples * 3 * token * r.length) / RATE
    out["probes"] += r.probe_steps * (r.probe_examples * r.length * token / RATE
                                      + PROBE_SECONDS * r.probe_seeds * r.probe_tasks)
    if r.arm not in arms:
      arms.add(r.arm)
      out["compilation"] += sum(COMPILE_SECONDS.values())
  out["report"] = REPORT_SECONDS if runs else 0.0
  return out


def calibration(pairs) -> dict:
  """{stage: Σ measured / Σ modelled} over (measured, modelled) accounts of the same cells; 1.0 for a stage the
  model gives no time in those cells (nothing to scale)."""
  out = {}
  for s in STAGES:
    modelled = sum(m.get(s, 0.0) for _, m in pairs)
    out[s] = sum(a.get(s, 0.0) for a, _ in pairs) / modelled if modelled > 0 else 1.0
  return out


def calibrated(estimate: dict, factors: dict) -> dict:
  """{stage: seconds} of `estimate` scaled per stage by `factors` (`calibration`)."""
  return {s: estimate.get(s, 0.0) * factors.get(s, 1.0) for s in STAGES}


def minutes(seconds: float) -> str:
  return f"{seconds / 60:.1f}"


def before_source(first: dict) -> str:
  """How a row's before was measured, for its source column: 'before: <commit>', and when that record had reused
  runs trained earlier (`first['reused']`), that their training is their own records' training wall time."""
  reused = first.get("reused") or ()
  return f"before: {first.get('commit', 'unknown')}" + (
      f", {len(reused)} reused runs' training from their run records" if reused else "")


def machine_source(machines) -> str:
  """'; machine <processor>, reference N ms' for each machine a cell recorded (flatness_jax.parallel.machine), ''
  when it recorded none (cells recorded before machines were)."""
  return "".join(f"; machine {m.get('processor', 'unknown')}" + (
      f", reference {m['reference_ms']:.0f} ms" if m.get("reference_ms") else "") for m in machines or ())


def ratio(after: float, before: float) -> str:
  return f"{after / before:.2f}×" if before > 0 else "–"


def table(rows) -> list[str]:
  """Markdown lines of the account: rows are (experiment, language, runs, {stage: seconds}, source[, counted[,
  before]]), `before` the {stage: seconds} of the cell's first measurement (None: this is its first, its own
  before; results.record_cell keeps it in cell.json's baseline). Each row shows its total, its before's total and
  total ÷ before; a total row sums the counted ones on both sides (a row with counted False, e.g. the stale record
  of a superseded recipe, is shown and marked, not summed)."""
  head = (["experiment", "language", "runs"] + [f"{s} min" for s in STAGES]
          + ["total min", "before min", "× before", "source"])
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  total = dict.fromkeys(STAGES, 0.0)
  total_before = 0.0
  runs = 0
  for exp, lang, n, secs, source, *rest in rows:
    counted = rest[0] if rest else True
    now = sum(secs.values())
    before = sum(rest[1].values()) if len(rest) > 1 and rest[1] else now
    if not counted:
      source += " (not counted)"
    else:
      runs += n
      total_before += before
      for s in STAGES:
        total[s] += secs.get(s, 0.0)
    lines.append(f"| {exp} | {lang} | {n} | " + " | ".join(minutes(secs.get(s, 0.0)) for s in STAGES)
                 + f" | {minutes(now)} | {minutes(before)} | {ratio(now, before)} | {source} |")
  after = sum(total.values())
  lines.append(f"| **total** | | {runs} | " + " | ".join(minutes(total[s]) for s in STAGES)
               + f" | **{minutes(after)}** | {minutes(total_before)} | {ratio(after, total_before)} | |")
  return lines
