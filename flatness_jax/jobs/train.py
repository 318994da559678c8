"""The 'train' job: masked-LM pre-training of one run into its run directory (configs/pcfg.py, hmm.py, tiny.py, and
every arm of the experiment configs through the pipeline).

Before anything is written, the directory is checked (read only): a new run needs an empty or missing directory;
an existing run must have recorded a config that trains the same function (flatness_jax.train.resume: otherwise one
line names the differing fields and nothing changes); a finished run with the same config returns its summary and
writes nothing. Then, under the directory's writer lock, config.json records the resolved config (for a new run or
an extension), training resumes from the newest restorable checkpoint (flatness_jax.rundir.checkpoints: corrupt
ones are moved aside, never deleted) or initialises (optionally from `train.init_from`'s newest parameters) — but
never from step 0 over a run that has training records and no checkpoint — and flatness_jax.train.loop runs with
the hooks that make the record:
  metrics   after every chunk one metrics.jsonl row (and TensorBoard scalars); at evaluation steps the held-out
            evaluation joins it, its per-pair losses go to heldout_losses.npz and λ's control (adversarial
            pre-training at equal loss) takes the new gap;
  checkpoint at the log-spaced checkpoint steps (flatness_jax.train.schedule.checkpoint_steps), and where a stop
            request ends the run;
  progress  a one-line bar on stderr.
A resumed run first drops the rows, TensorBoard records and per-pair losses of steps after its checkpoint, and
replays exactly the steps an uninterrupted one would (data and masks are functions of seed and step), so every
step is recorded once. At the end: summary.json and one printed line.

Stopping. SIGTERM and SIGINT (what SLURM, TPU preemption and Ctrl-C send) finish the running chunk, checkpoint its
last step, close the records, release the lock and raise loop.Stopped (exit status loop.EXIT_STOPPED); the same
command resumes. A second signal stops at once. A non-finite loss or state stops the run naming the step and the
last good checkpoint, which stays on disk.
"""
import contextlib
import os
import signal
import threading
import time

from absl import logging

from flatness_jax import models as models_lib
from flatness_jax.jobs import progress
from flatness_jax.rundir import checkpoints, integrity, jsonio, layout, lock, metrics as metrics_lib, pair_losses
from flatness_jax.rundir import reader, records, rundir
from flatness_jax.train import arms, config_checks, loop, resume, schedule, seed_group
from flatness_jax.train import trainer as trainer_lib

_OURS = (lock.LOCK_NAME, integrity.MANIFEST)  # what a run directory may hold before its config.json is written


def check_workdir(workdir: str, config):
  """The recorded config of the run in `workdir` (None for a new run) after the read-only checks of the module
  docstring; ValueError naming the problem (a foreign directory, a config that trains another function)."""
  wd = os.path.abspath(workdir)
  if os.path.exists(wd) and not os.path.isdir(wd):
    raise NotADirectoryError(f"--workdir {wd} is a file, not a run directory")
  if not os.path.isdir(wd):
    return None
  recorded = jsonio.read_json(os.path.join(wd, layout.CONFIG))
  if recorded is None:
    foreign = sorted(n for n in os.listdir(wd) if n not in _OURS and not n.startswith(".tmp_"))
    if foreign:
      raise ValueError(f"{wd} is not empty and has no {layout.CONFIG}, so it is not a run directory "
                       f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); use a new --workdir")
    return None
  if not layout.is_run_config(recorded):
    raise ValueError(layout.not_a_run(wd, recorded, layout.RUN_SECTIONS) + "; nothing was written, use a new --workdir")
  steps = checkpoints.complete_steps(wd)
  resume.check(wd, recorded, config.to_dict(), steps[-1] if steps else None)
  return recorded


def finished_summary(workdir: str, config):
  """The summary of a run that already ended at config's train.num_steps (final checkpoint and summary.json on
  disk), else None."""
  summary = jsonio.read_json(os.path.join(workdir, layout.SUMMARY))
  steps = checkpoints.complete_steps(workdir)
  n = config.train.num_steps
  return summary if summary and summary.get("steps") == n and steps and steps[-1] == n else None


def _history(workdir: str) -> str:
  """What the run directory recorded of earlier training ('' when nothing beyond step 0)."""
  rows = jsonio.read_jsonl(os.path.join(workdir, layout.METRICS), [])  # a damaged file: the rows that parse
  last = max((int(r["step"]) for r in rows if isinstance(r.get("step"), int)), default=0)
  moved = checkpoints.moved_aside(workdir)
  if last > 0 or moved or os.path.exists(os.path.join(workdir, layout.SUMMARY)):
    return f"metrics up to step {last}" + (f", checkpoints moved aside: {', '.join(moved)}" if moved else "")
  return ""


def _initial_state(trainer, config, checkpointer, workdir: str):
  """(step, state): the newest restorable checkpoint, else a fresh state (warm-started from train.init_from) when
  the directory holds no earlier training."""
  step, state = checkpointer.restore(trainer.abstract)
  if state is not None:
    logging.info("resuming %s from step %d", checkpointer.directory, step)
    return step, state
  history = _history(workdir)
  if history:
    raise checkpoints.CheckpointError(f"{workdir} has training records ({history}) but no checkpoint to resume "
                                      "from; not starting again from step 0 over them. Use a new --workdir")
  state = trainer.fresh_state()
  source = config.train.get("init_from")
  if source:
    src = rundir.RunDir(source)
    steps = src.steps()
    if not steps:
      raise ValueError(f"train.init_from={src.workdir!r} has no checkpoints")
    try:
      state = trainer.with_params(state, src.params(steps[-1]))
    except ValueError as e:
      raise ValueError(f"train.init_from={src.workdir!r}: {e}") from None
    logging.info("initialised from %s step %d", src.workdir, steps[-1])
  return 0, state


class _Record:
  """The hooks that write the run's record (module docstring), sharing the last evaluation and the clock."""

  def __init__(self, trainer, workdir: str, start: int, checkpointer):
    self.trainer, self.workdir, self.checkpointer = trainer, workdir, checkpointer
    config = trainer.config
    self.eval_steps = set(schedule.evaluation_steps(config))
    self.save_steps = set(schedule.checkpoint_steps(config.checkpoint.every, config.train.num_steps))
    keep = start if start > 0 else -1  # the rows of steps this run does not compute again
    problems = []
    prior = jsonio.read_jsonl(os.path.join(workdir, layout.METRICS), problems)
    for p in problems:
      logging.warning("%s: %s", workdir, p)
    timed = [r for r in prior if "wall_seconds" in r and r.get("step", 0) <= keep]
    self.wall0, self.t0 = (timed[-1]["wall_seconds"] if timed else 0.0), time.time()
    if trainer.control:
      trainer.adversary.lam = trainer.control.replay(prior, start)
    if jsonio.is_writer():
      try:
        pair_losses.truncate(workdir, keep)
      except integrity.CorruptFileError as e:
        logging.warning("%s; moved aside to %s (steps from now on are recorded anew)", e,
                        pair_losses.move_aside(workdir))
    self.writer = metrics_lib.MetricWriter(workdir, keep_through=keep)
    for d in self.writer.dropped:
      logging.warning("%s: dropped %s", workdir, d)
    for m in self.writer.moved:
      logging.warning("%s", m)
    self.last_tokens_per_second = next((r["tokens_per_second"] for r in reversed(prior)
                                        if r.get("step", 0) <= keep and "tokens_per_second" in r), 0.0)
    self.last_eval = None
    self.bar = progress.ProgressBar(config.train.num_steps, start, label=layout.run_name(workdir, config),
                                    unit="steps")

  def wall(self) -> float:
    return self.wall0 + time.time() - self.t0

  def metrics(self, step, state, row):
    """Writes the chunk's row; at evaluation steps with the held-out evaluation (and its per-pair losses)."""
    if step not in self.eval_steps:
      self.writer.write(step, row)
      return
    evaluation, nll = self.trainer.evaluate(state.params, step)
    ev = {**row, **evaluation.to_json(), "wall_seconds": self.wall()}
    if self.trainer.adversary:
      ev.setdefault("adversarial_lambda", self.trainer.adversary.lam)  # the λ the chunk used (step 0: initial)
    self.writer.write(step, ev)
    if jsonio.is_writer():
      pair_losses.record(self.workdir, step, nll, self.trainer.heldout.optimal_nll, self.trainer.heldout.digest)
    if self.trainer.control:
      self.trainer.adversary.lam = self.trainer.control.update(step, evaluation.gap_relative)
    self.last_eval = evaluation

  def checkpoint(self, step, state, _):
    self.checkpointer.save(step, state, transient=step not in self.save_steps)

  def progress(self, step, _, row):
    gap = self.last_eval.gap_relative if self.last_eval else float("nan")
    self.bar.update(step, force=step in self.eval_steps, loss=row.get("train_loss", float("nan")),
                    **{"gap%": 100 * gap}, tok_s=int(row.get("tokens_per_second", 0)))

  def hooks(self):
    return [loop.Hook(self.metrics), loop.Hook(self.checkpoint, frozenset(self.save_steps), on_stop=True),
            loop.Hook(self.progress)]

  def close(self):
    self.bar.close()
    self.writer.close()


@contextlib.contextmanager
def stop_on_signals(stop: loop.StopRequest, signals=(signal.SIGTERM, signal.SIGINT)):
  """While the block runs, the first of `signals` asks `stop` to stop at the next chunk boundary; a second one
  raises KeyboardInterrupt at once. Outside the main thread (where Python delivers signals) nothing is installed."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return

  def handler(signum, _):
    name = signal.Signals(signum).name
    if stop.reason is not None:
      raise KeyboardInterrupt(f"second stop request ({name})")
    stop.request(name)
    logging.warning("%s: finishing the current chunk, then checkpointing and stopping (again to stop now)", name)

  previous = {s: signal.signal(s, handler) for s in signals}
  try:
    yield
  finally:
    for s, h in previous.items():
      signal.signal(s, h)


def train_and_evaluate(config, workdir: str, stop=None) -> dict:
  """Trains per `config` into the run directory `workdir` (under its writer lock); returns the summary dict.
  config.json records the fully resolved config (the model preset expanded: what is actually trained). `stop`: a
  loop.StopRequest shared with other runs (flatness_jax.jobs.concurrent_runs); by default the run's own."""
  config = arms.resolve_run_config(config)
  config_checks.validate_train_config(config)
  check_workdir(workdir, config)  # before the lock: a foreign directory gets no lock file
  done = finished_summary(workdir, config)
  trainer = None if done else trainer_lib.Trainer(config, workdir)
  with lock.writer_lock(workdir):
    recorded = check_workdir(workdir, config)  # again, now that no other writer can change it
    done = finished_summary(workdir, config)
    if done:
      logging.info("%s already finished at step %d; nothing to do", workdir, config.train.num_steps)
      return done
    trainer = trainer or trainer_lib.Trainer(config, workdir)
    stop = stop or loop.StopRequest()
    with stop_on_signals(stop):
      return _train(trainer, config, workdir, recorded, stop)


def _train(trainer, config, workdir: str, recorded, stop) -> dict:
  opened = _open(trainer, config, workdir, recorded)
  try:
    _run_loop(trainer, opened.state, opened.start, opened.record.hooks(), stop, workdir, opened.checkpointer)
  finally:
    opened.close()
  return _finish(trainer, config, workdir, opened)


class _Opened:
  """A run directory made ready to train: its checkpointer, start step and state, parameter count and record."""

  def __init__(self, checkpointer, start, state, num_params, record):
    self.checkpointer, self.start, self.state, self.num_params, self.record = (
        checkpointer, start, state, num_params, record)

  def close(self):
    try:
      self.record.close()
    finally:
      self.checkpointer.close()


def _open(trainer, config, workdir: str, recorded) -> _Opened:
  """config.json written (new run or extension), temporaries of killed writes removed, the newest checkpoint
  restored (or a fresh state) and the record's hooks ready."""
  if jsonio.is_writer():
    for path in integrity.remove_temporaries(workdir):
      logging.info("removed %s, the temporary file of a killed write", path)
    if recorded is None or resume.extends(recorded, config.to_dict()):
      jsonio.write_json_atomic(os.path.join(workdir, layout.CONFIG), config.to_dict())
  checkpointer = checkpoints.Checkpointer(
      workdir, protected=schedule.protected_steps(config.checkpoint.every, config.train.num_steps),
      keep_period=config.checkpoint.keep_period, max_to_keep=config.checkpoint.max_to_keep)
  try:
    start, state = _initial_state(trainer, config, checkpointer, workdir)
    num_params = models_lib.count_params(state.params)
    logging.info("model: %d parameters; language %s (optimal loss known exactly)", num_params,
                 trainer.language.name)
    record = _Record(trainer, workdir, start, checkpointer)
  except BaseException:
    checkpointer.close()
    raise
  return _Opened(checkpointer, start, state, num_params, record)


def _run_loop(runner, state, start: int, hooks, stop, where: str, checkpointer):
  """loop.run with its two endings named for the user: divergence (the last good checkpoint) and a stop request."""
  try:
    return loop.run(runner, state, start, hooks, stop)
  except FloatingPointError as e:  # a non-finite loss at step s, or state of step s: checkpoint s is not good
    bad = getattr(e, "step", None)
    good = [k for k in checkpointer.all_steps() if bad is None or k < bad]
    raise trainer_lib.TrainingDivergedError(
        f"{e} ({where}); stopped. The last good checkpoint is step {good[-1] if good else None}. Lower "
        "optimizer.learning_rate or enable optimizer.clip_norm", bad) from None
  except loop.Stopped as e:
    raise loop.Stopped(e.step, e.reason, f"{where}: stopped by {e.reason} at step {e.step} with its checkpoint "
                                         "saved; run the same command again to resume") from None


def _finish(trainer, config, workdir: str, opened: _Opened) -> dict:
  """summary.json of the finished run (written by the writer process); returns it."""
  record = opened.record
  final = record.last_eval or _recorded_evaluation(workdir, config.train.num_steps)
  summary = records.Summary(
      num_params=opened.num_params, steps=config.train.num_steps, language=trainer.language.name, final=final,
      wall_seconds=record.wall(),
      tokens_per_second=trainer.tokens_per_second if trainer.tokens_seen else record.last_tokens_per_second,
      adversarial_lambda_final=trainer.adversary.lam if trainer.adversary else float("nan")).to_json()
  if jsonio.is_writer():
    jsonio.write_json_atomic(os.path.join(workdir, layout.SUMMARY), summary)
  return summary


def train_seed_group(configs: list, workdirs: list, stop=None) -> list:
  """Trains the seeds of one arm (run configs differing only in their seed) as one vmapped program
  (flatness_jax.train.seed_group) into their own run directories, each recorded exactly as `train_and_evaluate`
  records it; returns their summaries. Runs that cannot share a program (seed_group.why_not), or that do not all
  resume from the same step, train one after the other instead, saying why. `stop` as in train_and_evaluate."""
  import jax  # pylint: disable=g-import-not-at-top
  configs = [arms.resolve_run_config(c) for c in configs]
  for c in configs:
    config_checks.validate_train_config(c)
  why = seed_group.why_not(configs, jax.device_count(), jax.process_count())
  for w, c in zip(workdirs, configs):
    check_workdir(w, c)  # before the locks: a foreign directory gets no lock file
  if not why and any(finished_summary(w, c) for w, c in zip(workdirs, configs)):
    why = "some seeds have finished"
  if why:
    logging.info("train.vmap_seeds: training the %d seeds one after the other (%s)", len(configs), why)
    return [train_and_evaluate(c, w, stop) for c, w in zip(configs, workdirs)]
  with contextlib.ExitStack() as locks:
    for w in workdirs:
      locks.enter_context(lock.writer_lock(w))
    recorded = [check_workdir(w, c) for w, c in zip(workdirs, configs)]  # again, under the locks
    trainers = [trainer_lib.Trainer(c, w) for c, w in zip(configs, workdirs)]
    opened = []
    try:
      for t, c, w, r in zip(trainers, configs, workdirs, recorded):
        opened.append(_open(t, c, w, r))
      starts = sorted({o.start for o in opened})
      if len(starts) == 1:
        hooks = seed_group.group_hooks([o.record.hooks() for o in opened])
        stop = stop or loop.StopRequest()
        with stop_on_signals(stop):
          _run_loop(seed_group.SeedGroup(trainers), [o.state for o in opened], starts[0], hooks, stop,
                    os.path.commonpath([os.path.abspath(w) for w in workdirs]), opened[0].checkpointer)
    finally:
      for o in opened:
        o.close()
    if len(starts) == 1:
      return [_finish(t, c, w, o) for t, c, w, o in zip(trainers, configs, workdirs, opened)]
    logging.info("train.vmap_seeds: the seeds resume from different steps %s; training them one after the other",
                 starts)
    return [_train(t, c, w, r, stop or loop.StopRequest())
            for t, c, w, r in zip(trainers, configs, workdirs, recorded)]


def _recorded_evaluation(workdir: str, step: int):
  """The held-out evaluation recorded at `step` (a run resumed at its end evaluates nothing new)."""
  evaluation = reader.read_evaluations(workdir).get(step)
  if evaluation is None:
    raise RuntimeError(f"{workdir}: no held-out evaluation recorded at step {step}; metrics.jsonl is incomplete")
  return evaluation


def run_train(config, workdir: str) -> None:
  """The 'train' job."""
  summary = train_and_evaluate(config, workdir)
  logging.info("done: %s", summary)
  print(f"{workdir}: {summary['num_params']:,} params, {summary['steps']} steps, "
        f"gap {summary['final_gap']:.4f} ± {summary['final_gap_se']:.4f} nats "
        f"({100 * summary['final_gap_relative']:.2f}% of L*={summary['optimal_loss']:.4f}), "
        f"{summary['wall_seconds']:.0f}s")
