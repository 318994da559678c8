"""The jitted, sharded training step, run `n` steps per call through `lax.scan`.

One call consumes tokens [n, B, L] and lengths [n, B] (sentences sampled on the host); inside, each step draws its
masked positions from fold_in(key, step), so the data a step sees depends only on the seed and the step number:
a resumed run replays exactly the steps an uninterrupted one would. Running ~20 steps per call amortises dispatch
(1.6–1.8× more steps/s on 2 CPU cores). The state buffers are donated.

The Trainer runs every chunk through one program (`jit_train_chunk_up_to`): inputs padded to k = steps_per_call
steps and the count n ≤ k traced, so the short chunks before an evaluation or checkpoint reuse the k-step program
instead of compiling one of their own (each XLA program costs seconds of CPU compilation; the same bytes per step).
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from flatness_jax.tokens import batching
from flatness_jax.parallel import mesh as mesh_lib, shared_programs
from flatness_jax.train import algorithms, objective


def make_train_chunk(model, tx, vocab_size: int, masking: str, schedule, *, dropout: bool, algo_cfg=None):
  """fn(state, tokens[n,B,L], lengths[n,B], key, labelled, lam) -> (state, metrics of shape [n]).

  `algo_cfg` (config.train) picks the algorithm (flatness_jax.train.algorithms; None: 'standard'). For 'adversarial', `labelled` =
  {'tokens', 'lengths', 'labels'} holds the labelled sentences [n, Ba, ...] of the adversarial term and `lam` its
  λ (a traced scalar, so adapting λ recompiles nothing); the probe head lives in `state.algo['head']` and is
  trained inside the scan too (one descent step per training step on that step's labelled sentences, before the
  encoder's ascent step), so the adversary faces a head that keeps up. Other algorithms take labelled = lam = None.
  """
  algo_cfg = algo_cfg if algo_cfg is not None and "algorithm" in algo_cfg else algorithms.STANDARD
  adversarial = algo_cfg.algorithm == "adversarial"

  def step(state, xs, key, lam):
    tokens, lengths, labelled = xs
    k_mask, k_drop, k_algo = jax.random.split(jax.random.fold_in(key, state.step), 3)
    batch = objective.make_batch(k_mask, tokens, lengths, vocab_size, masking)
    rngs = {"dropout": k_drop} if dropout else None
    loss_fn = lambda p: objective.mlm_loss(model, p, batch, train=True, rngs=rngs)
    algo = state.algo
    if adversarial:
      labelled = {**labelled, "inputs": batching.model_inputs(labelled["tokens"], labelled["lengths"], vocab_size)}
      algo = {"head": algorithms.update_head(model, state.params, algo["head"], labelled,
                                             algo_cfg.adversarial_head_lr)}
    loss, grads, extra = algorithms.value_and_grad(algo_cfg, loss_fn, state.params, k_algo, model=model,
                                                   head=algo.get("head"), labelled=labelled, adversarial_lambda=lam)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {"loss": loss, "grad_norm": optax.global_norm(grads), "lr": schedule(state.step),
               "param_norm": optax.global_norm(params), **extra}
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state, algo=algo), metrics

  def chunk(state, tokens, lengths, key, labelled, lam):
    return jax.lax.scan(lambda st, xs: step(st, xs, key, lam), state, (tokens, lengths, labelled))

  return chunk


def up_to(chunk):
  """fn(state, tokens [k, ...], lengths [k, ...], n, key, labelled, lam) -> (state, metrics [k]): the first n ≤ k
  steps of `chunk` (a `make_train_chunk` function), n traced, so one program runs any chunk length up to the padded
  k. Each step is `chunk` over that step's one-step slice inside a `lax.fori_loop` (the state after n steps is
  bit for bit that of `chunk` over the n steps: tests/train/test_step.py); metrics rows past n are zero and the
  inputs there are never read."""
  def chunk_up_to(state, tokens, lengths, n, key, labelled, lam):
    def one(i, carry):
      st, rows = carry
      xs = jax.tree.map(lambda x: jax.lax.dynamic_slice_in_dim(x, i, 1), (tokens, lengths, labelled))
      st, m = chunk(st, *xs[:2], key, xs[2], lam)
      return st, jax.tree.map(lambda r, v: jax.lax.dynamic_update_slice_in_dim(r, v, i, 0), rows, m)
    shapes = jax.eval_shape(lambda s, t, l, lab: chunk(s, t, l, key, lab, lam)[1], state,
                            *jax.tree.map(lambda x: x[:1], (tokens, lengths, labelled)))
    rows = jax.tree.map(lambda s: jnp.zeros((tokens.shape[0],) + s.shape[1:], s.dtype), shapes)
    return jax.lax.fori_loop(0, n, one, (state, rows))
  chunk_up_to.__name__ = "chunk"  # the training program, named as in compile logs and timings ('jit(chunk)')
  return chunk_up_to


def jit_train_chunk_up_to(chunk, mesh, shardings):
  """`jit_train_chunk` of `up_to(chunk)`: call(state, tokens [k, ...], lengths [k, ...], n, key, labelled=None,
  lam=None) runs the first n steps of inputs padded to k (`pad_steps`), one compiled program for every n ≤ k."""
  data = mesh_lib.batch_sharding(mesh, leading_unsharded=1)
  rep = mesh_lib.replicated(mesh)
  jitted = jax.jit(up_to(chunk), in_shardings=(shardings, data, data, rep, rep, data, rep),
                   out_shardings=(shardings, rep), donate_argnums=(0,))
  run = shared_programs.shared(jitted, mesh.devices.flat)

  def call(state, tokens, lengths, n, key, labelled=None, lam=None):
    return run(state, tokens, lengths, np.int32(n), key, labelled, lam)  # a host scalar: every process's own
  call.executables = getattr(run, "executables", None)  # None when shared_programs is bypassed (a benchmark's)
  return call


def pad_steps(array, k: int):
  """A host array of n ≤ k steps on its leading axis, zero-padded to k (the steps `up_to` does not run)."""
  array = np.asarray(array)
  if array.shape[0] > k:
    raise ValueError(f"a chunk of {array.shape[0]} steps is longer than the {k} steps per call")
  return np.concatenate([array, np.zeros((k - array.shape[0],) + array.shape[1:], array.dtype)])


def jit_train_chunk(chunk, mesh, shardings):
  """jax.jit with the state's shardings, the data split over 'data' (after the scan axis), state donated;
  `labelled` and `lam` may be left out (None) for algorithms without an adversary. Runs of the same program in one
  process (seeds of an arm trained at once) share its executable (flatness_jax.parallel.shared_programs)."""
  data = mesh_lib.batch_sharding(mesh, leading_unsharded=1)
  rep = mesh_lib.replicated(mesh)
  jitted = jax.jit(chunk, in_shardings=(shardings, data, data, rep, data, rep), out_shardings=(shardings, rep),
                   donate_argnums=(0,))
  run = shared_programs.shared(jitted, mesh.devices.flat)  # runs of one program at once compile it once

  def call(state, tokens, lengths, key, labelled=None, lam=None):
    return run(state, tokens, lengths, key, labelled, lam)
  call.lower = lambda state, tokens, lengths, key, labelled=None, lam=None: jitted.lower(  # for memory analyses
      state, tokens, lengths, key, labelled, lam)
  return call


def make_eval_fn(model, mesh, param_shardings):
  """fn(params, inputs, positions, targets) -> (nll [B], correct [B]) in inference mode, jitted and sharded."""

  def evaluate(params, inputs, positions, targets):
    logits = model.apply({"params": params}, inputs, positions, train=False).astype(jnp.float32)
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    return nll, (jnp.argmax(logits, -1) == targets)

  data = mesh_lib.batch_sharding(mesh)
  rep = mesh_lib.replicated(mesh)  # outputs gathered (B floats) so every process can read them
  return jax.jit(evaluate, in_shardings=(param_shardings, data, data, data), out_shardings=(rep, rep))
