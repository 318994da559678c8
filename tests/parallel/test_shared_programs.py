"""Wrappers of the same program share one executable in a process; the first caller compiles it, callers at once
wait for it, other programs compile their own, and a failed compilation is nobody's."""
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flatness_jax.parallel import shared_programs

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@pytest.fixture
def backend_compiles():
  """A list that collects the function name of every XLA backend compilation while the test runs (persistent cache
  off, so a program compiled twice shows twice)."""
  seen = []
  listener = lambda event, duration, **kw: seen.append(kw.get("fun_name")) if event == COMPILE_EVENT else None
  jax.monitoring.register_event_duration_secs_listener(listener)
  old = jax.config.jax_enable_compilation_cache
  jax.config.update("jax_enable_compilation_cache", False)
  shared_programs.clear()
  try:
    yield seen
  finally:
    jax.config.update("jax_enable_compilation_cache", old)
    jax.monitoring.unregister_event_duration_listener(listener)
    shared_programs.clear()


def _closure(scale):
  """A new function object each call (as each run's training chunk is), the same program for the same scale."""
  def program(x, y):
    for _ in range(30):  # enough work that two threads' compilations overlap
      x = jnp.tanh(x @ y) * scale + x
    return x
  return jax.jit(program)


def test_two_wrappers_of_one_program_called_at_once_compile_it_once(backend_compiles):
  x, y = jnp.ones((64, 64)), jnp.eye(64) * 0.5
  fns = [shared_programs.shared(_closure(0.5), jax.devices()) for _ in range(2)]
  start, out = threading.Barrier(2), [None, None]

  def call(i):
    start.wait()
    out[i] = np.asarray(fns[i](x, y))
  threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert backend_compiles.count("jit(program)") == 1
  np.testing.assert_array_equal(out[0], np.asarray(_closure(0.5)(x, y)))
  np.testing.assert_array_equal(out[0], out[1])


def test_other_programs_and_shapes_compile_their_own(backend_compiles):
  x, y = jnp.ones((64, 64)), jnp.eye(64) * 0.5
  a, b = shared_programs.shared(_closure(0.5), jax.devices()), shared_programs.shared(_closure(0.25), jax.devices())
  ra, rb = a(x, y), b(x, y)
  assert backend_compiles.count("jit(program)") == 2 and not np.array_equal(ra, rb)
  a(jnp.ones((32, 64)), y)
  a(x, y)  # the wrapper keeps its executable: no compilation
  assert backend_compiles.count("jit(program)") == 3


def test_a_failed_compilation_is_raised_to_every_caller(backend_compiles, monkeypatch):
  x, y = jnp.ones((8, 8)), jnp.eye(8)
  fn = shared_programs.shared(_closure(0.5), jax.devices())
  lowered_type = type(_closure(0.5).lower(x, y))

  def broken(self):
    raise RuntimeError("compiler out of memory")
  monkeypatch.setattr(lowered_type, "compile", broken)
  for _ in range(2):  # not remembered as compiled: the second caller tries again and sees the error itself
    with pytest.raises(RuntimeError, match="out of memory"):
      fn(x, y)
  monkeypatch.undo()
  np.testing.assert_array_equal(np.asarray(fn(x, y)), np.asarray(_closure(0.5)(x, y)))


def test_two_runs_training_chunks_share_one_compilation(backend_compiles):
  """Two trainers of one config (two seeds of an arm) build their own jitted chunks: one compilation between them."""
  from experiments.configs import quickstart  # pylint: disable=g-import-not-at-top
  from flatness_jax.train import arms, trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  config = quickstart.get_config("tiny,seeds=2")
  runs = list(arms.run_configs(config).values())
  trainers = [trainer_lib.Trainer(arms.resolve_run_config(r), None) for r in runs]
  states = [t.fresh_state() for t in trainers]
  rows = [t.run_chunk(s, 0, 2)[1] for t, s in zip(trainers, states)]
  assert backend_compiles.count("jit(chunk)") == 1
  assert rows[0] != rows[1]  # two runs (their own data and initialisation), one program


def test_a_program_no_wrapper_holds_any_more_is_compiled_again(backend_compiles):
  """The table does not keep executables alive: once the runs that used a program are gone, it is freed."""
  import gc  # pylint: disable=g-import-not-at-top
  x, y = jnp.ones((8, 8)), jnp.eye(8)
  fn = shared_programs.shared(_closure(0.5), jax.devices())
  fn(x, y)
  del fn
  gc.collect()
  shared_programs.shared(_closure(0.5), jax.devices())(x, y)
  assert backend_compiles.count("jit(program)") == 2


def test_one_computation_under_two_output_structures_is_two_programs(backend_compiles):
  """The same arithmetic returning {'loss'} and {'cost'} lowers to the same module text: each caller still gets its
  own output names (the key holds the argument and result trees)."""
  x = jnp.arange(4.0)
  first = shared_programs.shared(jax.jit(lambda v: {"loss": v * 2}), jax.devices())
  second = shared_programs.shared(jax.jit(lambda v: {"cost": v * 2}), jax.devices())
  assert set(first(x)) == {"loss"} and set(second(x)) == {"cost"}
