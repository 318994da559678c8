"""`train_and_evaluate(config, workdir)`: masked-LM pre-training with held-out gap to the exact optimum.

The run directory is the record: config.json (resolved), metrics.jsonl, heldout_losses.npz (per-pair held-out
losses at every evaluation), tensorboard/, checkpoints/ (Orbax, log-spaced), summary.json. A run restarted on the same workdir resumes from its newest readable checkpoint and
replays exactly the steps an uninterrupted run would (data and masks are functions of seed and step). A non-finite
loss stops the run with TrainingDivergedError naming the step; the last good checkpoint stays on disk. The writing
process holds the directory's writer lock (flatness_jax.rundir.lock) for the whole run, so a second process on the
same workdir stops at once instead of training beside it.
"""
import os
import time

from absl import logging
import jax
import numpy as np

from flatness_jax import data as data_lib
from flatness_jax import models as models_lib
from flatness_jax.parallel import mesh as mesh_lib
from flatness_jax.rundir import jsonio, lock, pair_losses, progress, rundir
from flatness_jax.train import adversarial as adversarial_lib
from flatness_jax.train import checkpoint as ckpt_lib
from flatness_jax.train import config_checks, feed, heldout as heldout_lib, metrics as metrics_lib
from flatness_jax.train import optim, schedule as schedule_lib, state as state_lib, step as step_lib


class TrainingDivergedError(FloatingPointError):
  """The training loss became NaN or infinite."""


class Run:
  """Everything a run needs, built (and validated) before anything is compiled."""

  def __init__(self, config, workdir: str):
    config_checks.validate_train_config(config)
    self.config, self.workdir = config, workdir
    self.language = data_lib.make_language(config.data)
    self.mesh = mesh_lib.make_mesh(config.parallel.model_parallelism)
    config_checks.validate_against_data(config, self.language, self.mesh)
    self.max_length = config.model.get("max_length", 0) or self.language.max_length
    self.model = models_lib.make_model(config.model, self.language.vocab_size, self.max_length)
    self.schedule = optim.make_schedule(config.optimizer, config.train.num_steps)
    self.tx = optim.make_optimizer(config.optimizer, config.train.num_steps)
    self.abstract, self.shardings = state_lib.state_shardings(
        self.model, self.tx, self.mesh, self.max_length, config.parallel.fsdp)
    key = jax.random.key(config.seed)
    self.init_key, self.data_key, self.mask_key = (jax.random.fold_in(key, i) for i in range(3))
    self.checkpointer = ckpt_lib.Checkpointer(
        os.path.join(workdir, "checkpoints"), every=config.checkpoint.every,
        num_steps=config.train.num_steps, keep_period=config.checkpoint.keep_period,
        max_to_keep=config.checkpoint.max_to_keep)

  def initial_state(self):
    """(step, state): restored from the newest readable checkpoint, else freshly initialised (sharded)."""
    step, state = self.checkpointer.restore(self.abstract)
    if state is None:
      state = state_lib.init_train_state(self.model, self.tx, self.init_key, self.shardings, self.max_length)
      if self.config.train.get("init_from"):
        state = self._warm_start(state)
      return 0, state
    logging.info("resuming %s from step %d", self.workdir, step)
    return step, state

  def _warm_start(self, state):
    """Parameters from the newest checkpoint of config.train.init_from, optimizer state fresh for them."""
    src = rundir.RunDir(self.config.train.init_from)
    steps = src.steps()
    if not steps:
      raise ValueError(f"train.init_from={src.workdir!r} has no checkpoints")
    params = src.params(steps[-1])
    shapes = jax.tree.map(np.shape, params)
    if shapes != jax.tree.map(np.shape, state.params):
      raise ValueError(f"train.init_from={src.workdir!r}: its parameters do not have this model's shapes")
    params = jax.device_put(params, self.shardings.params)
    opt_state = jax.jit(self.tx.init, out_shardings=self.shardings.opt_state)(params)
    logging.info("initialised from %s step %d", src.workdir, steps[-1])
    return state.replace(params=params, opt_state=opt_state)


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains per `config`, writing the run directory (under its writer lock); returns the summary dict."""
  config_checks.validate_train_config(config)
  with lock.writer_lock(workdir):
    return _train_and_evaluate(config, workdir)


def _train_and_evaluate(config, workdir: str) -> dict:
  run = Run(config, workdir)
  cfg = config
  if jsonio.is_writer():
    jsonio.write_json_atomic(os.path.join(workdir, rundir.CONFIG), cfg.to_dict())
  step, state = run.initial_state()
  num_params = models_lib.count_params(state.params)
  logging.info("model: %d parameters; language %s (optimal loss known exactly)", num_params, run.language.name)
  heldout = heldout_lib.make_heldout(run.language, cfg.eval.num_pairs, cfg.eval.seed)
  train_chunk = step_lib.jit_train_chunk(
      step_lib.make_train_chunk(run.model, run.tx, run.language.vocab_size, cfg.train.masking, run.schedule,
                                dropout=cfg.model.dropout > 0, train_cfg=cfg.train),
      run.mesh, run.shardings)
  eval_fn = step_lib.make_eval_fn(run.model, run.mesh, run.shardings.params)
  data_sharding = mesh_lib.batch_sharding(run.mesh, leading_unsharded=1)
  eval_sharding = mesh_lib.batch_sharding(run.mesh)
  writer = metrics_lib.MetricWriter(workdir, resume_step=step)
  prior = [r for r in jsonio.read_jsonl(os.path.join(workdir, rundir.METRICS)) if "wall_seconds" in r]
  wall0 = prior[-1]["wall_seconds"] if prior else 0.0
  t0 = time.time()
  last_eval = None
  eval_steps = set(range(0, cfg.train.num_steps + 1, cfg.eval.every)) | set(run.checkpointer.schedule)

  if jsonio.is_writer():
    pair_losses.truncate(workdir, step)
  pairs_digest = heldout.digest
  adversary, control = None, None
  if cfg.train.get("algorithm") == "adversarial":
    refits = set(range(0, cfg.train.num_steps, cfg.adversarial.refit_every)) | set(schedule_lib.event_steps(cfg))
    adversary = adversarial_lib.Adversary(run, cfg, data_sharding, refits)
    if cfg.adversarial.get("match_gap_of"):
      control = adversarial_lib.LambdaControl(
          rundir.sibling_dir(workdir, cfg, cfg.adversarial.match_gap_of), cfg.train.adversarial_lambda,
          cfg.adversarial.gap_tolerance, cfg.adversarial.lambda_factor, cfg.adversarial.lambda_max,
          cfg.adversarial.get("start_step", 0))
      adversary.lam = control.replay(jsonio.read_jsonl(os.path.join(workdir, rundir.METRICS)), step)

  def do_eval(s, row=None):
    """Evaluates at step s, writes the row (training metrics of the chunk, if any, and the evaluation)."""
    nll, correct = heldout_lib.evaluate_pairs(eval_fn, state.params, heldout, cfg.eval.batch_size,
                                              lambda a: feed.to_global(a, eval_sharding))
    ev = {**(row or {}), **heldout_lib.summarize(heldout, nll, correct)}
    ev["wall_seconds"] = wall0 + time.time() - t0
    if adversary:
      ev.setdefault("adversarial_lambda", adversary.lam)  # the λ the chunk's steps used (step 0: the initial λ)
    writer.write(s, ev)
    if jsonio.is_writer():
      pair_losses.record(workdir, s, nll, heldout.optimal_nll, pairs_digest)
    if control:
      adversary.lam = control.update(s, ev["gap_relative"])
    return ev

  if step == 0:
    last_eval = do_eval(0)
    run.checkpointer.save(0, state)
  bar = progress.ProgressBar(cfg.train.num_steps, step, label=os.path.basename(os.path.normpath(workdir)),
                             unit="steps")
  tokens_seen, t_train, compiled = 0, 0.0, set()  # tokens/s counts calls of an already-compiled length
  for a, b in schedule_lib.chunk_bounds(cfg, step):
    tokens, lengths = feed.sample_steps(run.language, run.data_key, range(a, b), cfg.train.batch_size)
    extras = adversary.extras(state.params, a, b) if adversary else {}
    t = time.time()
    state, m, head = train_chunk(state, feed.to_global(tokens, data_sharding),
                                 feed.to_global(lengths, data_sharding), run.mask_key, extras)
    if adversary:
      adversary.accept(head)
    m = jax.device_get(m)
    if b - a in compiled:
      t_train += time.time() - t
      tokens_seen += int(lengths.sum())
    compiled.add(b - a)
    losses = np.asarray(m["loss"])
    if not np.all(np.isfinite(losses)):
      bad = a + int(np.argmin(np.isfinite(losses)))
      kept = run.checkpointer.all_steps()
      raise TrainingDivergedError(
          f"training loss is {losses[bad - a]} at step {bad} ({workdir}); stopped. The last good checkpoint is "
          f"step {kept[-1] if kept else None} in {run.checkpointer.directory}. Lower optimizer.learning_rate or "
          f"enable optimizer.clip_norm.")
    step = b
    row = {k: float(np.mean(v)) for k, v in m.items() if k not in ("loss", "grad_norm", "lr", "param_norm")}
    row.update({"train_loss": float(losses.mean()), "grad_norm": float(np.mean(m["grad_norm"])),
           "lr": float(m["lr"][-1]), "param_norm": float(m["param_norm"][-1]),
           "tokens_per_second": tokens_seen / max(t_train, 1e-9)})
    if adversary:
      row["adversarial_lambda"] = float(extras["lambda"])
    if step in eval_steps:
      last_eval = do_eval(step, row)
    else:
      writer.write(step, row)
    if run.checkpointer.should_save(step):
      run.checkpointer.save(step, state)
    bar.update(step, force=step in eval_steps, loss=row["train_loss"],  # held-out gap in % of the optimal loss
               **{"gap%": 100 * (last_eval or {}).get("gap_relative", float("nan"))},
               tok_s=int(row["tokens_per_second"]))
  bar.close()
  if last_eval is None:  # resumed at the end: evaluate the final state once more
    last_eval = do_eval(step)
  writer.close()
  run.checkpointer.close()
  summary = {
      "num_params": num_params, "steps": step, "wall_seconds": wall0 + time.time() - t0,
      "optimal_loss": last_eval["optimal_loss"], "optimal_loss_se": last_eval["optimal_loss_se"],
      "final_loss": last_eval["eval_loss"], "final_gap": last_eval["gap"], "final_gap_se": last_eval["gap_se"],
      "final_gap_relative": last_eval["gap_relative"], "final_gap_relative_se": last_eval["gap_relative_se"],
      "final_accuracy": last_eval["eval_accuracy"], "bayes_accuracy": last_eval["bayes_accuracy"],
      "tokens_per_second": tokens_seen / max(t_train, 1e-9), "language": run.language.name,
      **({"adversarial_lambda_final": adversary.lam} if adversary else {}),
      "gap_units": "final_gap in nats (model − optimal, paired over held-out pairs); final_gap_relative = "
                   "final_gap / optimal_loss",
  }
  if jsonio.is_writer():
    jsonio.write_json_atomic(os.path.join(workdir, rundir.SUMMARY), summary)
  return summary


def run_train(config, workdir: str) -> None:
  """The 'train' job."""
  summary = train_and_evaluate(config, workdir)
  logging.info("done: %s", summary)
  print(f"{workdir}: {summary['num_params']:,} params, {summary['steps']} steps, "
        f"gap {summary['final_gap']:.4f} ± {summary['final_gap_se']:.4f} nats "
        f"({100 * summary['final_gap_relative']:.2f}% of L*={summary['optimal_loss']:.4f}), "
        f"{summary['wall_seconds']:.0f}s")
