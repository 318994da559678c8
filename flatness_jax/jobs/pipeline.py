"""The 'quickstart' job, every experiment's pipeline: data card → train every arm and seed → curvature → probes →
report (one command).

Each stage writes into the workdir, and each is also its own job (configs/data_card.py, quickstart's sizes,
configs/curvature.py, configs/probes.py, configs/report.py), so a stage can be rerun alone; a rerun of the whole
pipeline resumes training from checkpoints and re-measures only what is missing from curvature.json/probes.json.
The pipeline holds its workdir's writer lock, and each stage holds its run directory's. Before any stage, every run
directory that exists is checked read-only (flatness_jax.jobs.train.check_workdir): one that recorded a config
training another function is refused in one line before the first run trains, not after the runs before it.
With `parallel.concurrent_runs` = N > 1 the runs train N at a time on host threads (flatness_jax.jobs
.concurrent_runs: same bytes; an adversarial run after the same seed of its reference arm), and each run's curvature
and probes join the same queue, starting as soon as that run has trained (a run after the first run of its
architecture, whose compiled programs it reuses): no stage waits for the slowest run of the one before. The block is
timed as one stage per kind sharing its wall in proportion to thread-seconds (flatness_jax.jobs.timing).
The workdir's machine.json lists the machines that ran it (flatness_jax.parallel.machine: processor, cores, JAX
build; the tier adds each cell's reference time): what a reproduction check and the tier's account name.
"""
import functools
import os

from absl import logging

from flatness_jax.data import card as card_lib
from flatness_jax.data import make_language
from flatness_jax.jobs import curvature as curvature_job, data_card as data_card_job, probes as probes_job
from flatness_jax.jobs import concurrent_runs, report as report_job, timing, train as train_job
from flatness_jax.parallel import machine
from flatness_jax.rundir import fields, jsonio, layout, lock, records, rundir
from flatness_jax.train import arms, loop

STAGES = ("data_card", "train", "curvature", "probes", "report")
TIMINGS = "timings.json"
MACHINE = "machine.json"


def recorded_machines(workdir: str) -> list:
  """The machines workdir/machine.json lists ([] when there is none); ValueError naming the file when it is not
  {"machines": [objects]}."""
  path = os.path.join(workdir, MACHINE)
  doc = jsonio.read_json(path, {"machines": []})
  machines = doc.get("machines") if isinstance(doc, dict) else None
  if not isinstance(machines, list) or not all(isinstance(m, dict) for m in machines):
    raise ValueError(f"{path} is not a list of machines ({{\"machines\": [{{...}}, ...]}}): move it aside, and "
                     "the next run writes a new one")
  return machines


def record_machine(workdir: str, entry: dict) -> None:
  """Folds `entry` (machine.identity(), or .measure()) into workdir/machine.json (machine.merged: one entry per
  machine)."""
  machines = machine.merged(recorded_machines(workdir), entry)
  if jsonio.is_writer():
    os.makedirs(workdir, exist_ok=True)
    jsonio.write_json_atomic(os.path.join(workdir, MACHINE), {"machines": machines})


def _stages(config) -> list[str]:
  stages = fields.split_list(config.stages)
  unknown = [s for s in stages if s not in STAGES]
  if unknown:
    raise ValueError(f"stages: unknown {unknown}; known stages: {list(STAGES)}")
  return stages


def _has_curvature(workdir: str, steps: list[int]) -> bool:
  """Whether curvature.json has every step."""
  return set(steps) <= set(records.read_curvature_steps(jsonio.read_json(os.path.join(workdir, layout.CURVATURE))))


def _has_probes(workdir: str, steps: list[int], finetune: bool) -> bool:
  """Whether probes.json has every step (with fine-tuning results, if asked for)."""
  have = records.Probes.from_json(jsonio.read_json(os.path.join(workdir, layout.PROBES))).steps
  return all(s in have and (not finetune or have[s].finetune) for s in steps)


def _training_groups(runs: dict) -> list:
  """The runs in training order, as groups: the seeds of an arm with train.vmap_seeds together (one program,
  flatness_jax.train.seed_group), every other run alone."""
  groups, by_arm = [], {}
  for name, sub in runs.items():
    arm = name.split("/")[0]
    if sub.train.get("vmap_seeds") and "/" in name:
      if arm not in by_arm:
        by_arm[arm] = []
        groups.append(by_arm[arm])
      by_arm[arm].append(name)
    else:
      groups.append([name])
  return groups


def _train_group(runs: dict, workdir: str, names: list, stop=None) -> list:
  """Trains one group of `_training_groups` (a run, or an arm's seeds as one program); their summaries."""
  if len(names) == 1:
    return [train_job.train_and_evaluate(runs[names[0]], os.path.join(workdir, names[0]), stop)]
  return train_job.train_seed_group([runs[n] for n in names], [os.path.join(workdir, n) for n in names], stop)


def _group_label(names: list) -> str:
  return names[0] if len(names) == 1 else f"{names[0].split('/')[0]} (seeds as one program)"


def _prerequisites(runs: dict, groups: list, workdir: str) -> list:
  """Per group, the indices of the earlier groups it waits for: those holding the run whose gap an adversarial run
  tracks (adversarial.match_gap_of: the directory flatness_jax.rundir.layout.sibling_dir names)."""
  where = {os.path.abspath(os.path.join(workdir, name)): i for i, names in enumerate(groups) for name in names}
  out = []
  for i, names in enumerate(groups):
    after = set()
    for name in names:
      ref = runs[name].get("adversarial", {}).get("match_gap_of", "")
      j = where.get(layout.sibling_dir(os.path.join(workdir, name), runs[name], ref)) if ref else None
      if j is not None and j != i:
        after.add(j)
    out.append(tuple(sorted(after)))
  return out


def _train_all(config, runs: dict, workdir: str, times, kinds=()) -> dict:
  """{run name: summary} of every run trained in order, or `parallel.concurrent_runs` at a time. At once, the
  measurements `kinds` ('curvature', 'probes') of each run join the same queue (`_measure_tasks`): a run is measured
  as soon as it has trained, beside the runs still training, instead of after the last of them. The block is timed
  as one stage per kind sharing its wall (flatness_jax.jobs.timing.StageTimes.overlapped); compile seconds are
  thread-seconds."""
  groups = _training_groups(runs)
  num, why = concurrent_runs.workers(config, len(groups))
  if why:
    logging.info("parallel.concurrent_runs: %s", why)
  summaries = {}
  if num == 1:
    for names in groups:
      with times.stage(f"train {_group_label(names)}"):
        summaries.update(zip(names, _train_group(runs, workdir, names)))
    return summaries
  stage = f"train {len(runs)} runs, {num} at a time"
  tasks = [concurrent_runs.Task(_group_label(names), _in_part(times, stage, functools.partial(
      _train_group, runs, workdir, names)), after)
           for names, after in zip(groups, _prerequisites(runs, groups, workdir))]
  group_of = {name: i for i, names in enumerate(groups) for name in names}
  tasks += _measure_tasks(config, runs, workdir, list(runs), kinds, num, times, group_of)
  stop = loop.StopRequest()
  with times.overlapped(), train_job.stop_on_signals(stop):
    done = concurrent_runs.run_all(tasks, num, stop)
  if stop.reason is not None:  # asked to stop once every run had trained: the measurements not begun are left
    raise loop.Stopped(0, stop.reason, f"stopped by {stop.reason} before every run was measured; the same command "
                       "measures the rest")
  for names, result in zip(groups, done):
    summaries.update(zip(names, result))
  return {name: summaries[name] for name in runs}


def _in_part(times, stage: str, fn):
  """fn(stop) run as part of `stage` in an overlapped block (its thread's seconds and compilation are the stage's)."""
  def run(stop):
    with times.part(stage):
      return fn(stop)
  return run


def recorded_run_configs(config) -> dict:
  """{run name: resolved config} of the runs `config` trains, as they record it: the config the pipeline runs
  (after curvature.only_if_correlatable), resolved per run (flatness_jax.train.arms.resolve_run_config)."""
  config, _ = curvature_job.correlatable_measures(config)
  return {name: arms.resolve_run_config(sub) for name, sub in arms.run_configs(config).items()}


def check_run_dirs(config, workdir: str) -> None:
  """Raises the first run directory's problem (ResumeConflictError or ValueError, one line) when a run of `config`
  under `workdir` cannot be trained or resumed there; reads only. Runs are compared with what they recorded
  (`recorded_run_configs`)."""
  if "train" not in _stages(config):
    return
  for name, resolved in recorded_run_configs(config).items():
    train_job.check_workdir(os.path.join(workdir, name), resolved)


def run_quickstart(config, workdir: str) -> None:
  """Runs the configured stages in order, measuring what the report can use (curvature.only_if_correlatable:
  flatness_jax.jobs.curvature.correlatable_measures, decided before any run directory is read or written, so the
  runs record it); prints where the report lies and where the time went (timings.json, summed over every call on
  this workdir)."""
  stages = _stages(config)
  config, note = curvature_job.correlatable_measures(config)
  if note and "curvature" in stages:
    print(note, flush=True)
  check_run_dirs(config, workdir)
  times = timing.StageTimes(os.path.join(workdir, TIMINGS) if jsonio.is_writer() else None)  # written per stage
  try:
    with lock.writer_lock(workdir):
      record_machine(workdir, machine.identity())
      _run(config, workdir, stages, times)
  finally:
    times.close()
  print("\n" + times.table())
  if times.path:
    timing.write(times.path, times)  # what no stage's end wrote (nothing, normally)


def _run(config, workdir, stages, times) -> None:
  if "data_card" in stages:
    with times.stage("data_card"):
      card = data_card_job.compute_card(make_language(config.data), config.card.num_sentences,
                                        config.card.sample_seed)
    if jsonio.is_writer():
      jsonio.write_json_atomic(os.path.join(workdir, data_card_job.FILE), card)
    print(card_lib.format_card(card))
  runs = arms.run_configs(config)
  run_dirs = [os.path.join(workdir, name) for name in runs]
  if "train" in stages:
    summaries = _train_all(config, runs, workdir, times, [k for k in _MEASURE_JOBS if k in stages])
    table = arms.format_table(summaries)
    if jsonio.is_writer():
      jsonio.write_text_atomic(os.path.join(workdir, "sizes.md"), table + "\n")
    print(table)
  _measure_all(config, runs, workdir, stages, times)
  if "report" in stages:
    with times.stage("report"):
      path = report_job.write_report(run_dirs, workdir, config)
    print(open(path).read())
    print(f"\nreport: {os.path.abspath(path)}")


_MEASURE_JOBS = {"curvature": curvature_job.run_curvature, "probes": probes_job.run_probes}


def _unmeasured(config, workdir: str, name: str, kind: str) -> bool:
  """Whether the run `name` lacks a `kind` ('curvature' or 'probes') measurement of a checkpoint its config asks
  for."""
  d = os.path.join(workdir, name)
  steps = rundir.RunDir(d).select_steps(config[kind].steps)
  if kind == "curvature":
    return not _has_curvature(d, steps)
  return not _has_probes(d, steps, bool(config.probes.get("finetune")))


def _first_of_architecture(runs: dict, names: list) -> list:
  """Per name, the index (in `names`) of the first earlier run with the same model, as a prerequisite: that run
  compiles the architecture's programs (flatness_jax.eval.curvature.compiled_programs, jit caches), which the
  later ones then reuse instead of compiling them again beside it."""
  first, out = {}, []
  for i, name in enumerate(names):
    key = runs[name].model.to_json(sort_keys=True)
    out.append(() if key not in first else (first[key],))
    first.setdefault(key, i)
  return out


def _measure_if_missing(kind: str, config, workdir: str, name: str, stop):
  del stop  # a measurement runs to its end (`_measure_all`)
  if _unmeasured(config, workdir, name, kind):  # read when the task starts: its run has trained by then
    _MEASURE_JOBS[kind](config, os.path.join(workdir, name), label=name)


def _measure_alone(kind: str, config, workdir: str, name: str, times) -> None:
  with times.stage(f"{kind} {name}"):
    _MEASURE_JOBS[kind](config, os.path.join(workdir, name))


def _measure_tasks(config, runs: dict, workdir: str, names: list, kinds, num: int, times, trained=None) -> list:
  """The measurement tasks of `names`, every run's curvature then every run's probes: each waits for the same
  measurement of the first run of its architecture (`_first_of_architecture`) and, given `trained` ({name: index of
  the task training it}, those tasks listed first), for its own run's training."""
  offset = max(trained.values()) + 1 if trained else 0
  firsts = _first_of_architecture(runs, names)
  tasks = []
  for kind in kinds:
    stage, base = f"{kind} {len(names)} runs, {num} at a time", offset + len(tasks)
    for name, first in zip(names, firsts):
      after = tuple(base + i for i in first) + ((trained[name],) if trained else ())
      tasks.append(concurrent_runs.Task(f"{kind} {name}", _in_part(times, stage, functools.partial(
          _measure_if_missing, kind, config, workdir, name)), tuple(sorted(after))))
  return tasks


def _measure_all(config, runs: dict, workdir: str, stages: list, times) -> None:
  """Curvature and probes of every run that lacks them (after training; `_train_all` measures the runs it trains
  at once): run by run, a timed stage each (curvature, then probes); or, with `parallel.concurrent_runs` = N > 1,
  N at a time on host threads, every run's curvature queued before every run's probes, one stage per kind sharing
  the block's wall (a run after the first run of its architecture: `_first_of_architecture`). The same numbers
  either way (each run's measurements are functions of its checkpoints and config alone); an error in one is raised
  once the others running beside it have ended (a measurement has no chunk boundary to stop at: curvature.json and
  probes.json are written after every checkpoint, and a rerun measures only what is missing)."""
  kinds = [k for k in _MEASURE_JOBS if k in stages]
  names = [name for name in runs if any(_unmeasured(config, workdir, name, kind) for kind in kinds)]
  num = concurrent_runs.workers(config, len(names))[0]
  if num == 1:  # one at a time asked for, or one run left to measure (or none)
    for name in names:
      for kind in kinds:
        if _unmeasured(config, workdir, name, kind):
          _measure_alone(kind, config, workdir, name, times)
    return
  with times.overlapped():
    concurrent_runs.run_all(_measure_tasks(config, runs, workdir, names, kinds, num, times), num,
                            loop.StopRequest())
