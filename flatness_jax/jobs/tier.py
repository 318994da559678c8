"""The 'tier' job (configs/paper.py:<tier>): every experiment × language of a tier, then results/.

1. The plan, printed first and written to <results>/<tier>/plan.json: per cell (experiment × language) its runs
   and minutes per stage (training, compilation, curvature, probes, report), from the cell's committed record
   (results/<tier>/<experiment>/<language>/cell.json) where one exists and is not stale (another command's, or runs
   recorded with another config: stale_record), else the stated cost model of
   flatness_jax.analysis.stage_account calibrated on the committed cells (of the cell's language where it has any);
   its before (the cell's first measurement, cell.json's baseline; a cell measured once is its own before) and
   total ÷ before; and the tier's totals both ways. Written again before results/ is rebuilt, so the cells
   measured in this run calibrate the estimates of those still missing.
2. Before any cell runs, each cell's directory that exists is checked read-only (check_cells): one holding runs of
   another config (a recipe the tier has since changed) is refused in one line naming it, to be moved aside.
   Each cell in turn runs the experiment's pipeline (flatness_jax.jobs.pipeline) in <workdir>/<experiment>/<language>:
   a cell whose runs are finished (trained to their last step, curvature and probes at every configured step, a
   report) is kept as it is; an unfinished one resumes (training from its checkpoints; only missing measurements are
   taken). Progress: one line per cell and stage, the pipeline's bars and stage table. A measured tier (not tiny)
   first times the machine's reference program (flatness_jax.parallel.machine; into the cell's machine.json, and so
   its record), so cells measured on machines of different speed can be told apart. After each cell the process
   drops its in-memory compiled programs (jax.clear_caches): one process holding every cell's models can run out of
   executable memory otherwise; the persistent compilation cache still serves them. The tiny tier compiles with
   XLA's optimisation passes mostly off (`xla_fast_compile`): its budgets measure nothing, compilation is most of
   its time.
   With `plan_only`, nothing runs: the plan is written and results/ rebuilt from the committed records (after a
   change of the cost model or of the records' format).
3. With `build_results`, every finished cell is recorded in results/ (compact run records, cell.json with the
   command, seeds, commit — a kept cell's record keeps the commit that measured it —, the machines that ran it and
   the per-stage account from its timings.json) and results/ is rebuilt (flatness_jax.jobs.results), README.md printed.
"""
import os
import time

import jax

from flatness_jax.analysis import committed as committed_lib, stage_account
from flatness_jax.data import lm_config, make_language
from flatness_jax.jobs import pipeline, results as results_job
from flatness_jax import models as models_lib
from flatness_jax.parallel import machine, shared_programs
from flatness_jax.rundir import compact, fields, jsonio, layout, lock, reader, rundir
from flatness_jax.train import arms


def selected_cells(config) -> list:
  """[(name, cell)] of config.cells in order, restricted to config.only (ValueError naming unknown cells)."""
  only = fields.split_list(config.get("only", ""))
  unknown = [n for n in only if n not in config.cells]
  if unknown:
    raise ValueError(f"only: unknown cell(s) {unknown}; cells of tier {config.tier!r}: {list(config.cells)}")
  return [(n, config.cells[n]) for n in config.cells if not only or n in only]


def _vocab_and_length(data_config) -> tuple:
  if data_config.get("kind") == "lm":
    return lm_config.shape(data_config)
  language = make_language(data_config)
  return language.vocab_size, language.max_length


def run_shapes(cell_config) -> list:
  """The cost model's view (stage_account.RunShape) of every run of an experiment config."""
  vocab, length = _vocab_and_length(cell_config.data)
  out = []
  for name, sub in arms.run_configs(cell_config).items():
    m = sub.model
    if m.kind == "lstm":
      params = models_lib.lstm_param_count(vocab, m.d_model, m.num_layers)
    else:
      params = models_lib.bert_param_count(vocab, length, m.d_model, m.num_layers, m.num_heads, m.d_ff,
                                           m.get("head_dim") or 0)
    cs = str(cell_config.curvature.steps)
    n_checkpoints = lambda spec: int(spec[5:]) if spec.startswith("last:") else (  # pylint: disable=g-long-lambda
        1 if spec == "last" else len(fields.split_list(spec)))
    out.append(stage_account.RunShape(
        params=params, length=length, steps=sub.train.num_steps, batch=sub.train.batch_size,
        algorithm=sub.train.algorithm, curvature_steps=n_checkpoints(cs),
        matvecs=cell_config.curvature.num_matvecs + cell_config.curvature.lanczos_iters,
        curvature_pairs=cell_config.curvature.num_pairs, fisher_examples=cell_config.curvature.fisher_examples,
        probe_steps=n_checkpoints(str(cell_config.probes.steps)), probe_examples=cell_config.probes.num_examples,
        probe_seeds=cell_config.probes.seeds, probe_tasks=len(fields.split_list(cell_config.probes.tasks)),
        arm=name.split("/")[0]))
  return out


def _committed(config, cell) -> tuple:
  """(path, record) of the cell's committed record results/<tier>/<experiment>/<language>/cell.json; the record is
  None when there is none."""
  path = os.path.join(results_job.cell_dir(config.results, config.tier, cell.experiment, cell.language),
                      results_job.CELL)
  return path, (results_job.compact.read_json(path) if os.path.exists(path) else None)


def stale_record(cell, path: str, doc: dict) -> str:
  """What the committed record `doc` (its cell.json at `path`) ran, when that is not what the tier runs now: its
  command in backquotes when the command changed; the same command `with another config (fields)` when a run it
  lists recorded another config than the tier would record for that run now (pipeline.recorded_run_configs;
  analysis.committed.differing_fields: bookkeeping and where-or-how-fast fields aside), or when the record's runs
  are not the cell's; '' when the record is current.
  A run the record lists and does not hold raises ValueError naming its file."""
  command = doc.get("command", cell.command)
  if command != cell.command:
    return f"`{command}`"
  recorded = doc.get("runs", [])
  if not recorded:
    return ""
  runs = pipeline.recorded_run_configs(cell.config)
  changed = set()
  if set(recorded) != set(runs):
    changed.add("runs")
  for name in recorded:
    run_path = os.path.join(os.path.dirname(path), results_job.RUNS, compact.file_name(name))
    if not os.path.exists(run_path):
      raise ValueError(f"{path} lists run {name!r}, but {run_path} is missing: restore it (git checkout) or move the "
                       "cell aside")
    if name in runs:
      changed.update(committed_lib.differing_fields(runs[name].to_dict(), compact.read(run_path).config))
  if not changed:
    return ""
  names = sorted(changed)
  shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
  return f"`{command}` with another config ({shown})"


def plan(config) -> list:
  """[{experiment, language, command, runs, estimate {stage: s}, source[, stale]}] of every cell of the tier: a
  committed cell's measured account, else the cost model calibrated on the tier's committed cells (stage_account):
  on the cells of its own language where it has any (what a language's data cost, the LM's decoder, the model does
  not see), else on every committed cell.
  A committed record of another command or config than the tier's (a changed recipe: `stale_record`) is stale: the
  row keeps the cost model's estimate and says in `stale` what the record ran, and the record calibrates nothing;
  its before stays the cell's first measurement (the record's baseline, or the record itself), so the plan shows
  what the change did."""
  out, pairs, modelled_rows = [], [], []
  for _, cell in config.cells.items():
    row = {"experiment": cell.experiment, "language": cell.language, "command": cell.command,
           "runs": len(arms.run_configs(cell.config))}
    modelled = stage_account.estimate(run_shapes(cell.config))
    path, doc = _committed(config, cell)
    if doc is not None:  # the cell's before is its first measurement, whatever recipe the record ran
      first = results_job.cell_baseline(doc, path)
      row["before"] = first.get("account", doc["account"])
    stale = doc and stale_record(cell, path, doc)
    if stale:
      row["stale"] = stale  # a recipe change: the record is another config's, still to run as this one
      row["stale_before"] = stage_account.before_source(first) if first else f"before: {doc.get('commit')}"
      doc = None
    if doc is not None:
      row.update(estimate=doc["account"],
                 source=f"measured, commit {doc['commit']}" + (f" ({stage_account.before_source(first)})" if first
                                                                else ""))
      pairs.append((cell.language, (doc["account"], modelled)))
    else:
      row.update(estimate=modelled, source="cost model (stage_account)")
      modelled_rows.append(row)
    out.append(row)
  for row in modelled_rows:
    own = [p for lang, p in pairs if lang == row["language"]]
    use, which = (own, f"{row['language']} cell") if own else ([p for _, p in pairs], "cell")
    if use:
      source = (f"cost model × measured/modelled of {len(use)} committed {which}{'s' if len(use) > 1 else ''} "
                "(stage_account.calibration)")
      row.update(estimate=stage_account.calibrated(row["estimate"], stage_account.calibration(use)), source=source)
  for row in out:
    if "stale" in row:
      row["source"] += f" ({row.pop('stale_before')}); the committed record ran {row['stale']}"
  return out


def plan_lines(tier: str, rows: list) -> list[str]:
  table = stage_account.table([(r["experiment"], r["language"], r["runs"], r["estimate"], r["source"], True,
                                r.get("before")) for r in rows])
  return [f"Plan of tier {tier!r}: {len(rows)} experiment × language cells, {sum(r['runs'] for r in rows)} runs", ""] \
      + table


def unfinished(cell_config, workdir: str) -> str:
  """Why the cell in `workdir` is not finished ('' when every run is trained, measured and reported)."""
  for name, sub in arms.run_configs(cell_config).items():
    d = os.path.join(workdir, name)
    if not os.path.exists(os.path.join(d, layout.SUMMARY)):
      return f"{name} not trained"
    run = reader.read_run(d)
    if run.summary.steps < sub.train.num_steps:
      return f"{name} trained to step {run.summary.steps} of {sub.train.num_steps}"
    rd = rundir.RunDir(d)
    if not set(rd.select_steps(cell_config.curvature.steps)) <= set(run.curvature):
      return f"{name} lacks curvature"
    if not set(rd.select_steps(cell_config.probes.steps)) <= set(run.probes.steps):
      return f"{name} lacks probes"
  if not os.path.exists(os.path.join(workdir, "report.md")):
    return "no report"
  return ""


def cell_document(config, cell, workdir: str, commit: str) -> dict:
  """What results/<tier>/<experiment>/<language>/cell.json records of a cell run in `workdir` (results.record_cell
  adds its runs and account): its command and settings, `commit`, the timings and machines the workdir holds."""
  return {"experiment": cell.experiment, "language": cell.language, "tier": config.tier, "command": cell.command,
          "seeds": cell.config.seeds, "name": cell.config.name, "report": cell.config.report.to_dict(),
          "commit": commit, "timings": jsonio.read_json(os.path.join(workdir, pipeline.TIMINGS), {}),
          "machines": pipeline.recorded_machines(workdir)}


def measure_machine(config, workdir: str) -> str:
  """In a measured tier (not tiny): times the machine's reference program into workdir/machine.json and returns its
  line; '' in the tiny tier, whose budgets measure nothing."""
  if config.tier == "tiny":
    return ""
  here = machine.measure()
  pipeline.record_machine(workdir, here)
  return machine.describe(here)


def _record(config, cell, workdir: str, commit: str) -> None:
  out = results_job.cell_dir(config.results, config.tier, cell.experiment, cell.language)
  results_job.record_cell({n: os.path.join(workdir, n) for n in arms.run_configs(cell.config)},
                          cell_document(config, cell, workdir, commit), out)


def kept_commit(config, cell, current: str) -> str:
  """The commit to record a cell kept as finished under: its committed record's when that record ran the same
  command (the commit that measured it), else `current`."""
  _, doc = _committed(config, cell)
  return doc["commit"] if doc and doc.get("command") == cell.command and doc.get("commit") else current


def fast_compile(config) -> bool:
  """Applies the tier's `xla_fast_compile` to this process (jax_disable_most_optimizations: most XLA passes off,
  compilation faster, results equal up to rounding); returns whether it is on."""
  on = bool(config.get("xla_fast_compile", False))
  if on:
    jax.config.update("jax_disable_most_optimizations", True)
  return on


def _write_plan(config, rows) -> None:
  if jsonio.is_writer() and config.build_results:
    results_job.compact.write_json(os.path.join(config.results, config.tier, results_job.PLAN),
                                   {"tier": config.tier, "cells": rows})


def check_cells(cells, workdir: str) -> None:
  """Refuses, in one line and before any cell runs, a cell whose directory holds runs of another config (a recipe
  the tier no longer runs): resuming would fail after the cells before it, and keeping it as finished would record
  it under a command it did not run. The directory is left as it is, for the user to move aside."""
  for _, cell in cells:
    d = os.path.join(workdir, cell.experiment, cell.language)
    if not os.path.isdir(d):
      continue
    try:
      pipeline.check_run_dirs(cell.config, d)
    except ValueError as e:
      problem = getattr(e, "problem", str(e))
      raise ValueError(f"{cell.experiment} × {cell.language}: {problem}; the tier runs `{cell.command}` there: "
                       f"move {d} aside (nothing in it is deleted) or use a new --workdir") from None


def run_tier(config, workdir: str) -> None:
  cells = selected_cells(config)
  fast = fast_compile(config)
  rows = plan(config)
  print("\n".join(plan_lines(config.tier, rows)) + "\n", flush=True)
  if fast:
    print("xla_fast_compile: XLA's optimisation passes mostly off for this tier (it measures nothing)", flush=True)
  _write_plan(config, rows)
  if config.get("plan_only"):
    _rebuild(config)
    return
  check_cells(cells, workdir)  # before any cell runs (plan_only reads no run directory)
  by_name = {f"{r['experiment']}_{r['language']}": r for r in rows}
  commit = results_job.commit(ignore=config.results)  # the results this job rewrites do not make the code dirty
  with lock.writer_lock(workdir):
    for i, (name, cell) in enumerate(cells, 1):
      d = os.path.join(workdir, cell.experiment, cell.language)
      why = unfinished(cell.config, d) if os.path.isdir(d) else "not started"
      head = f"[{i}/{len(cells)}] {cell.experiment} × {cell.language} ({cell.command})"
      ran = bool(why)
      if not why:
        print(f"{head}: finished, kept ({d})", flush=True)
      else:
        est = stage_account.minutes(sum(by_name[name]["estimate"].values()))
        print(f"{head}: {why}; running (estimated {est} min)", flush=True)
        speed = measure_machine(config, d)  # how fast this machine is, on a program no code change alters
        if speed:
          print(f"{head}: machine {speed}", flush=True)
        t0 = time.time()
        pipeline.run_quickstart(cell.config, d)
        print(f"{head}: done in {(time.time() - t0) / 60:.1f} min", flush=True)
        jax.clear_caches()  # one process runs every cell: drop its compiled programs (the disk cache keeps them)
        shared_programs.clear()
        why = unfinished(cell.config, d)
        if why:
          raise RuntimeError(f"{cell.experiment} × {cell.language}: the pipeline ended unfinished ({why})")
      if config.build_results and jsonio.is_writer():
        _record(config, cell, d, commit if ran else kept_commit(config, cell, commit))
  if config.build_results:
    _write_plan(config, plan(config))  # the cells measured now calibrate the estimates of those still missing
  _rebuild(config)


def _rebuild(config) -> None:
  if config.build_results and jsonio.is_writer():
    path = results_job.rebuild(config.results)
    print(open(path, encoding="utf-8").read())
    print(f"results: {os.path.abspath(path)}")
