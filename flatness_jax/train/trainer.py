"""One pre-training run's machinery, built and validated before anything is compiled: `Trainer(config)`.

It holds the language, the device mesh, the model, the optimizer and its schedule, the state's shardings, the keys
(initialisation, data stream, masks: all folded from `config.seed`), the jitted training chunk and held-out
evaluation, the held-out pairs (built on first use: they need the language's exact conditionals), the feed (each
chunk's data, the next chunk's drawn on the feed thread while a chunk trains: flatness_jax.train.feed.Prefetch), and
for adversarial pre-training the adversary (its head refits and labelled sentences) with λ's control. It reads nothing
of a run directory but the reference run that λ tracks, and writes nothing: the train job
(flatness_jax.jobs.train) owns the run directory and drives `flatness_jax.train.loop.run` with hooks.
"""
import functools
import time

import jax
import numpy as np

from flatness_jax import data as data_lib
from flatness_jax import models as models_lib
from flatness_jax.parallel import mesh as mesh_lib
from flatness_jax.rundir import layout
from flatness_jax.train import adversarial as adversarial_lib
from flatness_jax.train import config_checks, feed, heldout as heldout_lib, optim, schedule as schedule_lib
from flatness_jax.train import state as state_lib, step as step_lib


class TrainingDivergedError(FloatingPointError):
  """The training loss became NaN or infinite at `step` (computed with the state after `step` steps)."""

  def __init__(self, message: str, step: int | None = None):
    super().__init__(message)
    self.step = step


class Trainer:
  """Everything a run computes with (module docstring); `workdir` locates the reference arm λ tracks."""

  def __init__(self, config, workdir: str = ""):
    config_checks.validate_train_config(config)
    self.config, self.workdir = config, workdir
    self.language = data_lib.make_language(config.data)
    self.mesh = mesh_lib.make_mesh(config.parallel.model_parallelism)
    config_checks.validate_against_data(config, self.language, self.mesh)
    self.max_length = config.model.get("max_length", 0) or self.language.max_length
    self.model = models_lib.make_model(config.model, self.language.vocab_size, self.max_length)
    self.schedule = optim.make_schedule(config.optimizer, config.train.num_steps)
    self.tx = optim.make_optimizer(config.optimizer, config.train.num_steps)
    key = jax.random.key(config.seed)
    self.init_key, self.data_key, self.mask_key = (jax.random.fold_in(key, i) for i in range(3))
    self.data_sharding = mesh_lib.batch_sharding(self.mesh, leading_unsharded=1)
    self.eval_sharding = mesh_lib.batch_sharding(self.mesh)
    self.adversary = self.control = None
    algo_abstract = {}
    if config.train.get("algorithm") == "adversarial":
      refits = set(range(0, config.train.num_steps, config.adversarial.refit_every))
      refits |= set(schedule_lib.event_steps(config))
      self.adversary = adversarial_lib.Adversary(self.language, self.model, config,
                                                 (self.data_sharding, mesh_lib.replicated(self.mesh)), refits)
      algo_abstract = self.adversary.abstract_state(state_lib.abstract_params(self.model, self.max_length))
      if config.adversarial.get("match_gap_of"):
        self.control = adversarial_lib.LambdaControl(
            layout.sibling_dir(workdir, config, config.adversarial.match_gap_of), config.train.adversarial_lambda,
            config.adversarial.gap_tolerance, config.adversarial.lambda_factor, config.adversarial.lambda_max,
            config.adversarial.get("start_step", 0))
    self.algo_abstract = algo_abstract
    self.abstract, self.shardings = state_lib.state_shardings(
        self.model, self.tx, self.mesh, self.max_length, config.parallel.fsdp, algo=algo_abstract)
    self.chunk_fn = step_lib.make_train_chunk(self.model, self.tx, self.language.vocab_size, config.train.masking,
                                              self.schedule, dropout=config.model.dropout > 0, algo_cfg=config.train)
    # One program for every chunk length: inputs padded to steps_per_call, the step count traced (step.up_to).
    self.train_chunk = step_lib.jit_train_chunk_up_to(self.chunk_fn, self.mesh, self.shardings)
    self.eval_fn = step_lib.make_eval_fn(self.model, self.mesh, self.shardings.params)
    self._compiled, self.train_seconds, self.tokens_seen = False, 0.0, 0
    self.prefetch = True  # draw the next chunk's data on the feed thread while a chunk trains (feed.Prefetch)
    self.feed = feed.Prefetch(self._host_inputs)

  @functools.cached_property
  def heldout(self) -> heldout_lib.HeldOut:
    """The fixed held-out pairs with their exact optimal losses (eval.num_pairs from eval.seed)."""
    return heldout_lib.make_heldout(self.language, self.config.eval.num_pairs, self.config.eval.seed)

  def fresh_state(self):
    """Initialised parameters and optimizer state, created directly into their shardings."""
    return state_lib.init_train_state(self.model, self.tx, self.init_key, self.shardings, self.max_length,
                                      algo=self.algo_abstract)

  def with_params(self, state, params):
    """`state` with `params` (host or device arrays of this model's shapes) and a fresh optimizer state for them."""
    if jax.tree.map(np.shape, params) != jax.tree.map(np.shape, state.params):
      raise ValueError("the parameters do not have this model's shapes")
    params = jax.device_put(params, self.shardings.params)
    opt_state = jax.jit(self.tx.init, out_shardings=self.shardings.opt_state)(params)
    return state.replace(params=params, opt_state=opt_state)

  def run_chunk(self, state, a: int, b: int):
    """(state after steps [a, b), the chunk's metrics row): refits the adversary's head first when due; raises
    TrainingDivergedError naming the first step whose loss is not finite."""
    tokens, lengths, labelled_host = self.feed.get(a, b)
    k = self.config.train.steps_per_call
    labelled, lam = None, None
    if self.adversary:
      state = self.adversary.before_chunk(a, state)
      labelled, lam = self.adversary.chunk_inputs(
          a, b, {name: step_lib.pad_steps(v, k) for name, v in labelled_host.items()})
    t = time.time()
    state, m = self.train_chunk(state, feed.to_global(step_lib.pad_steps(tokens, k), self.data_sharding),
                                feed.to_global(step_lib.pad_steps(lengths, k), self.data_sharding), b - a,
                                self.mask_key, labelled, lam)
    self.prefetch_after(b)  # the chunk runs asynchronously; the next chunk's data are drawn meanwhile
    m = jax.tree.map(lambda v: np.asarray(v)[:b - a], jax.device_get(m))
    return state, self.chunk_row(m, a, b, lengths, time.time() - t, lam)

  def prefetch_after(self, b: int) -> None:
    """Starts drawing the data of the chunk the loop runs from step `b` (schedule.next_chunk) on the feed thread."""
    following = schedule_lib.next_chunk(self.config, b) if self.prefetch else None
    if following:
      self.feed.start(*following)

  def host_batches(self, a: int, b: int):
    """(tokens [b-a, B, L], lengths [b-a, B]) of steps [a, b) on the host: functions of the seed and the step."""
    return feed.sample_steps(self.language, self.data_key, range(a, b), self.config.train.batch_size)

  def _host_inputs(self, a: int, b: int):
    """(tokens, lengths, the adversary's labelled sentences or None) of steps [a, b) on the host."""
    tokens, lengths = self.host_batches(a, b)
    return tokens, lengths, self.adversary.labelled_arrays(a, b) if self.adversary else None

  def chunk_row(self, m, a: int, b: int, lengths, seconds: float, lam=None) -> dict:
    """The metrics row of chunk [a, b) from its per-step metrics `m` (host arrays [b-a]); counts tokens/s for calls
    after the first (which compiles the one program every chunk runs); raises TrainingDivergedError at the first
    non-finite loss."""
    if self._compiled:  # tokens/s counts calls of the already-compiled program
      self.train_seconds += seconds
      self.tokens_seen += int(np.asarray(lengths).sum())
    self._compiled = True
    losses = np.asarray(m["loss"])
    if not np.all(np.isfinite(losses)):
      bad = a + int(np.argmin(np.isfinite(losses)))
      raise TrainingDivergedError(f"training loss is {losses[bad - a]} at step {bad}", bad)
    row = {k: float(np.mean(v)) for k, v in m.items() if k not in ("loss", "grad_norm", "lr", "param_norm")}
    row.update({"train_loss": float(losses.mean()), "grad_norm": float(np.mean(m["grad_norm"])),
                "lr": float(m["lr"][-1]), "param_norm": float(m["param_norm"][-1]),
                "tokens_per_second": self.tokens_per_second})
    if self.adversary:
      row["adversarial_lambda"] = float(lam)
    return row

  @property
  def tokens_per_second(self) -> float:
    return self.tokens_seen / max(self.train_seconds, 1e-9)

  def evaluate(self, params, step: int = 0):
    """(the held-out evaluation of `params` at `step` (records.Evaluation), per-pair losses [n])."""
    nll, correct = heldout_lib.evaluate_pairs(self.eval_fn, params, self.heldout, self.config.eval.batch_size,
                                              lambda a: feed.to_global(a, self.eval_sharding))
    return heldout_lib.summarize(self.heldout, nll, correct, step), nll
