"""Host-side data feed: freshly sampled sentences per step, deterministic in (seed, step), sharded over devices.

Step s uses the sentences `language.sample(fold_in(key, s), global_batch)`: every process samples the same
global batch and hands each of its devices the rows that device holds (`jax.make_array_from_callback`). So the
data of a step does not depend on the number of processes, devices, or where a run was resumed.
"""
import jax
import numpy as np


def sample_steps(language, key, steps, global_batch: int):
  """Tokens [n, B, L] and lengths [n, B] (numpy) for the steps in `steps`."""
  samples = [language.sample(jax.random.fold_in(key, int(s)), global_batch) for s in steps]
  tokens = np.stack([np.asarray(x.tokens) for x in samples]).astype(np.int32)
  lengths = np.stack([np.asarray(x.lengths) for x in samples]).astype(np.int32)
  return tokens, lengths


def to_global(array: np.ndarray, sharding):
  """A global jax.Array from a host array that every process computed in full.

  Each process supplies exactly the blocks its own devices hold (`make_array_from_callback`), so this works for
  any sharding of the batch — over the data axis, replicated, or across processes — with one or many hosts: the
  sharding alone decides the split.
  """
  array = np.asarray(array)
  return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])
