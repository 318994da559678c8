"""The 'train' job: masked-LM pre-training of one run into its run directory (configs/pcfg.py, hmm.py, tiny.py, and
every arm of the experiment configs through the pipeline).

Under the directory's writer lock it records config.json (the config that trains), resumes from the newest
readable checkpoint or initialises (optionally from `train.init_from`'s newest parameters), and runs
flatness_jax.train.loop with the hooks that make the record:
  metrics   after every chunk one metrics.jsonl row (and TensorBoard scalars); at evaluation steps the held-out
            evaluation joins it, its per-pair losses go to heldout_losses.npz and λ's control (adversarial
            pre-training at equal loss) takes the new gap;
  checkpoint at the log-spaced checkpoint steps (flatness_jax.train.schedule.checkpoint_steps);
  progress  a one-line bar on stderr.
At the end: summary.json and one printed line. A resumed run replays exactly the steps an uninterrupted one would
(data and masks are functions of seed and step); a non-finite loss stops the run naming the step and the last good
checkpoint, which stays on disk.
"""
import os
import time

from absl import logging

from flatness_jax import models as models_lib
from flatness_jax.jobs import progress
from flatness_jax.rundir import checkpoints, jsonio, layout, lock, metrics as metrics_lib, pair_losses, reader
from flatness_jax.rundir import records, rundir
from flatness_jax.train import arms, loop, schedule, trainer as trainer_lib


def _initial_state(trainer, config, checkpointer):
  """(step, state): the newest readable checkpoint, else a fresh state (warm-started from train.init_from)."""
  step, state = checkpointer.restore(trainer.abstract)
  if state is not None:
    logging.info("resuming %s from step %d", checkpointer.directory, step)
    return step, state
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
    prior = [r for r in jsonio.read_jsonl(os.path.join(workdir, layout.METRICS)) if "wall_seconds" in r]
    self.wall0, self.t0 = (prior[-1]["wall_seconds"] if prior else 0.0), time.time()
    if trainer.control:
      trainer.adversary.lam = trainer.control.replay(jsonio.read_jsonl(os.path.join(workdir, layout.METRICS)), start)
    if jsonio.is_writer():
      pair_losses.truncate(workdir, start)
    self.writer = metrics_lib.MetricWriter(workdir, resume_step=start)
    self.last_eval = None
    self.bar = progress.ProgressBar(config.train.num_steps, start, label=os.path.basename(os.path.normpath(workdir)),
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
    self.checkpointer.save(step, state)

  def progress(self, step, _, row):
    gap = self.last_eval.gap_relative if self.last_eval else float("nan")
    self.bar.update(step, force=step in self.eval_steps, loss=row.get("train_loss", float("nan")),
                    **{"gap%": 100 * gap}, tok_s=int(row.get("tokens_per_second", 0)))

  def hooks(self):
    return [loop.Hook(self.metrics), loop.Hook(self.checkpoint, frozenset(self.save_steps)),
            loop.Hook(self.progress)]


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains per `config` into the run directory `workdir` (under its writer lock); returns the summary dict.
  config.json records the fully resolved config (the model preset expanded: what is actually trained)."""
  config = arms.resolve_run_config(config)
  trainer = trainer_lib.Trainer(config, workdir)
  with lock.writer_lock(workdir):
    return _train(trainer, config, workdir)


def _train(trainer, config, workdir: str) -> dict:
  if jsonio.is_writer():
    jsonio.write_json_atomic(os.path.join(workdir, layout.CONFIG), config.to_dict())
  checkpointer = checkpoints.Checkpointer(
      workdir, protected=schedule.protected_steps(config.checkpoint.every, config.train.num_steps),
      keep_period=config.checkpoint.keep_period, max_to_keep=config.checkpoint.max_to_keep)
  start, state = _initial_state(trainer, config, checkpointer)
  num_params = models_lib.count_params(state.params)
  logging.info("model: %d parameters; language %s (optimal loss known exactly)", num_params, trainer.language.name)
  record = _Record(trainer, workdir, start, checkpointer)
  try:
    state = loop.run(trainer, state, start, record.hooks())
  except trainer_lib.TrainingDivergedError as e:
    kept = checkpointer.all_steps()
    raise trainer_lib.TrainingDivergedError(
        f"{e} ({workdir}); stopped. The last good checkpoint is step {kept[-1] if kept else None} in "
        f"{checkpointer.directory}. Lower optimizer.learning_rate or enable optimizer.clip_norm.") from None
  finally:
    record.bar.close()
  final = record.last_eval or _recorded_evaluation(workdir, config.train.num_steps)
  record.writer.close()
  checkpointer.close()
  previous = records.Summary.from_json(jsonio.read_json(os.path.join(workdir, layout.SUMMARY)))
  summary = records.Summary(
      num_params=num_params, steps=config.train.num_steps, language=trainer.language.name, final=final,
      wall_seconds=record.wall(),
      tokens_per_second=(trainer.tokens_per_second if trainer.tokens_seen or previous is None
                         else previous.tokens_per_second),
      adversarial_lambda_final=trainer.adversary.lam if trainer.adversary else float("nan")).to_json()
  if jsonio.is_writer():
    jsonio.write_json_atomic(os.path.join(workdir, layout.SUMMARY), summary)
  return summary


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
