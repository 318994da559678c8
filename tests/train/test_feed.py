"""The host feed: a step's sentences depend only on (key, step), a global array holds exactly them, and a prefetched
chunk is the chunk the function computes."""
import jax
import numpy as np
import pytest

from flatness_jax import data as data_lib
from flatness_jax.parallel import mesh as mesh_lib
from flatness_jax.train import feed

LANG = data_lib.make_language({"kind": "hmm", "preset": "tiny", "seed": 0})


def test_a_steps_data_depends_only_on_the_key_and_the_step():
  key = jax.random.key(5)
  tokens, lengths = feed.sample_steps(LANG, key, range(3, 7), 8)
  assert tokens.shape == (4, 8, LANG.max_length) and lengths.shape == (4, 8)
  assert tokens.dtype == np.int32 and lengths.dtype == np.int32
  alone, _ = feed.sample_steps(LANG, key, [5], 8)  # step 5 on its own, as a resumed run would draw it
  np.testing.assert_array_equal(alone[0], tokens[2])
  other, _ = feed.sample_steps(LANG, jax.random.key(6), [5], 8)
  assert not np.array_equal(other[0], tokens[2])


def test_to_global_holds_the_host_array():
  mesh = mesh_lib.make_mesh(1)
  tokens, _ = feed.sample_steps(LANG, jax.random.key(0), range(2), 4)
  arr = feed.to_global(tokens, mesh_lib.batch_sharding(mesh, leading_unsharded=1))
  assert arr.shape == tokens.shape and arr.sharding.mesh.shape == mesh.shape
  np.testing.assert_array_equal(np.asarray(arr), tokens)


def test_prefetch_hands_out_what_the_function_computes_wherever_it_ran():
  calls = []

  def fn(a, b):
    calls.append((a, b))
    return feed.sample_steps(LANG, jax.random.key(1), range(a, b), 4)

  p = feed.Prefetch(fn)
  p.start(2, 5)
  ahead = p.get(2, 5)  # drawn on the feed thread
  here = p.get(5, 7)   # not started: drawn on the calling thread
  assert p.threads[0].startswith("feed") and p.threads[1] == "MainThread"
  for got, want in ((ahead, fn(2, 5)), (here, fn(5, 7))):
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
  p.start(7, 9)
  p.get(9, 11)  # the loop asked for another range (a resume): the started one is dropped, not handed out later
  assert not p.pending
  p.get(7, 9)
  assert p.threads[-1] == "MainThread"


def test_an_error_drawing_a_prefetched_chunk_is_raised_by_the_get_that_asks_for_it():
  def fn(a, b):
    raise ValueError(f"bad chunk {a}-{b}")

  p = feed.Prefetch(fn)
  p.start(0, 4)  # nothing is raised here
  with pytest.raises(ValueError, match="bad chunk 0-4"):
    p.get(0, 4)
