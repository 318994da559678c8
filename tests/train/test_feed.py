"""The host feed: a step's sentences depend only on (key, step), and a global array holds exactly them."""
import jax
import numpy as np

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
