"""The jitted training chunk, in process: one step is an exact gradient step, chunking does not change the result,
and the loss falls."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from flatness_jax import data as data_lib, models
from flatness_jax.parallel import mesh as mesh_lib
from flatness_jax.train import feed, objective, state as state_lib, step as step_lib

LANG = data_lib.make_language({"kind": "pcfg", "preset": "tiny", "seed": 0})
MODEL = models.make_model({"preset": "cpu_tiny"}, LANG.vocab_size, LANG.max_length)
LR = 0.05
TX = optax.sgd(LR)
SCHEDULE = optax.constant_schedule(LR)
KEY = jax.random.key(3)


def _setup():
  mesh = mesh_lib.make_mesh(1)
  _, shardings = state_lib.state_shardings(MODEL, TX, mesh, LANG.max_length)
  state = state_lib.init_train_state(MODEL, TX, jax.random.key(0), shardings, LANG.max_length)
  chunk = step_lib.make_train_chunk(MODEL, TX, LANG.vocab_size, "one", SCHEDULE, dropout=False)
  return mesh, shardings, state, step_lib.jit_train_chunk(chunk, mesh, shardings)


def _data(mesh, steps, batch=16):
  tokens, lengths = feed.sample_steps(LANG, jax.random.key(1), steps, batch)
  sharding = mesh_lib.batch_sharding(mesh, leading_unsharded=1)
  return feed.to_global(tokens, sharding), feed.to_global(lengths, sharding), tokens, lengths


def test_one_step_is_a_gradient_step_of_the_masked_lm_loss():
  mesh, _, state, chunk = _setup()
  p0 = jax.tree.map(np.asarray, state.params)
  tok, lens, tokens, lengths = _data(mesh, [0])
  new, metrics = chunk(state, tok, lens, KEY)
  assert new.algo == {} and int(new.step) == 1
  # The same masks the step drew: make_batch under split(fold_in(key, step 0))[0].
  k_mask = jax.random.split(jax.random.fold_in(KEY, 0), 3)[0]
  batch = objective.make_batch(k_mask, tokens[0], lengths[0], LANG.vocab_size, "one")
  loss, grads = jax.jit(jax.value_and_grad(lambda p: objective.mlm_loss(MODEL, p, batch, train=True)))(p0)
  np.testing.assert_allclose(float(metrics["loss"][0]), float(loss), rtol=1e-5)
  for a, b, g in zip(jax.tree.leaves(new.params), jax.tree.leaves(p0), jax.tree.leaves(grads)):
    np.testing.assert_allclose(np.asarray(a), b - LR * np.asarray(g), atol=2e-6)


def test_chunking_does_not_change_the_trajectory():
  mesh, _, state, chunk = _setup()
  tok, lens, _, _ = _data(mesh, range(2))  # chunks of 2 and 1 steps: the shapes the other tests compile
  whole, m_whole = chunk(jax.tree.map(jnp.copy, state), tok, lens, KEY)
  part = jax.tree.map(jnp.copy, state)
  losses = []
  for a in (0, 1):
    part, m = chunk(part, tok[a:a + 1], lens[a:a + 1], KEY)
    losses.extend(np.asarray(m["loss"]).tolist())
  np.testing.assert_allclose(losses, np.asarray(m_whole["loss"]), rtol=1e-6)
  for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(part.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_loss_falls_and_metrics_have_one_value_per_step():
  mesh, _, state, chunk = _setup()
  tok, lens, _, _ = _data(mesh, range(40), batch=32)
  state, m = chunk(state, tok, lens, KEY)
  for k in ("loss", "grad_norm", "lr", "param_norm"):
    assert np.asarray(m[k]).shape == (40,)
  losses = np.asarray(m["loss"])
  assert losses[-10:].mean() < losses[:10].mean() - 0.1, losses


def test_standard_algorithm_config_equals_the_default():
  mesh, shardings, state, chunk = _setup()
  cfg = ml_collections.ConfigDict({"algorithm": "standard", "adversarial_head_lr": 0.1})
  other = step_lib.jit_train_chunk(
      step_lib.make_train_chunk(MODEL, TX, LANG.vocab_size, "one", SCHEDULE, dropout=False, algo_cfg=cfg),
      mesh, shardings)
  tok, lens, _, _ = _data(mesh, range(2))
  a, _ = chunk(jax.tree.map(jnp.copy, state), tok, lens, KEY)
  b, _ = other(jax.tree.map(jnp.copy, state), tok, lens, KEY)
  for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_one_program_runs_every_chunk_length_with_the_bytes_of_its_own_scan():
  """up_to: inputs padded to k steps, n traced; the first n steps are bit for bit those of the n-step scan, rows
  past n are zero, and every n ≤ k runs the one executable."""
  mesh, shardings, state, chunk = _setup()
  k = 4
  tokens, lengths = feed.sample_steps(LANG, jax.random.key(1), range(k), 16)
  sharding = mesh_lib.batch_sharding(mesh, leading_unsharded=1)
  raw = step_lib.make_train_chunk(MODEL, TX, LANG.vocab_size, "one", SCHEDULE, dropout=False)
  padded = step_lib.jit_train_chunk_up_to(raw, mesh, shardings)
  for n in (1, 3, k):
    own, m_own = chunk(jax.tree.map(jnp.copy, state), feed.to_global(tokens[:n], sharding),
                       feed.to_global(lengths[:n], sharding), KEY)
    one, m_one = padded(jax.tree.map(jnp.copy, state),
                        feed.to_global(step_lib.pad_steps(tokens[:n], k), sharding),
                        feed.to_global(step_lib.pad_steps(lengths[:n], k), sharding), n, KEY)
    assert int(one.step) == n
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(one.params), jax.device_get(own.params))
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(one.opt_state), jax.device_get(own.opt_state))
    for name, rows in m_one.items():
      np.testing.assert_array_equal(np.asarray(rows)[:n], np.asarray(m_own[name]))
      assert not np.asarray(rows)[n:].any()
  assert len(padded.executables) == 1


def test_pad_steps_refuses_a_chunk_longer_than_the_program():
  assert step_lib.pad_steps(np.ones((2, 3), np.int32), 4).tolist() == [[1, 1, 1]] * 2 + [[0, 0, 0]] * 2
  with pytest.raises(ValueError, match="5 steps is longer than the 4 steps per call"):
    step_lib.pad_steps(np.ones((5, 3)), 4)
