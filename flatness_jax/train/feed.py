"""Host-side data feed: freshly sampled sentences per step, deterministic in (seed, step), sharded over devices.

Step s uses the sentences `language.sample(fold_in(key, s), global_batch)`: every process samples the same
global batch and keeps its own rows, and `jax.make_array_from_process_local_data` assembles the global array. So
the data of a step does not depend on the number of processes, devices, or where a run was resumed.
"""
import jax
import numpy as np


def sample_steps(language, key, steps, global_batch: int):
  """Tokens [n, B, L] and lengths [n, B] (numpy) for the steps in `steps`."""
  samples = [language.sample(jax.random.fold_in(key, int(s)), global_batch) for s in steps]
  tokens = np.stack([np.asarray(x.tokens) for x in samples]).astype(np.int32)
  lengths = np.stack([np.asarray(x.lengths) for x in samples]).astype(np.int32)
  return tokens, lengths


def process_rows(global_batch: int) -> slice:
  """The rows of the global batch that this process holds (processes split the batch evenly, in order)."""
  n, i = jax.process_count(), jax.process_index()
  per = global_batch // n
  return slice(i * per, (i + 1) * per)


def to_global(array: np.ndarray, sharding, batch_axis: int):
  """A global jax.Array from this process's rows of a host array that every process computed in full."""
  if jax.process_count() == 1:
    return jax.device_put(array, sharding)
  index = [slice(None)] * array.ndim
  index[batch_axis] = process_rows(array.shape[batch_axis])
  return jax.make_array_from_process_local_data(sharding, array[tuple(index)], array.shape)
