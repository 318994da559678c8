"""Host-side data feed: freshly sampled sentences per step, deterministic in (seed, step), sharded over devices.

Step s uses the sentences `language.sample(fold_in(key, s), global_batch)`: every process samples the same
global batch and hands each of its devices the rows that device holds (`jax.make_array_from_callback`). So the
data of a step does not depend on the number of processes, devices, or where a run was resumed.

Because a chunk's data depend on nothing but its steps, the next chunk's can be drawn while the current chunk
trains (`Prefetch`): on 2 CPU cores the two run side by side (the LM language's decoder sampling is most of its
training step; benchmarks/bench_feed.py measures the gain), and the data are the same bytes either way.
"""
import concurrent.futures
import threading

import jax
import numpy as np

WORKERS = 2  # feed threads per process: one per run trained at once on the 2 cores (parallel.concurrent_runs)


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


class Prefetch:
  """`fn(a, b)` for steps [a, b), drawn ahead on a host thread: `start(a, b)` begins computing it, `get(a, b)`
  returns it (waiting for it when started; computing it here when not, or when another range was started).

  fn must be a function of (a, b) alone (the feed's data are), so a prefetched value is the value `get` would
  compute; an exception raised in fn is raised by the `get` that asks for its range. `threads` records the name of
  the thread that computed each range handed out (for tests).
  """

  _pool = None  # WORKERS threads per process, shared by every Prefetch (the trainers of a seed group, and runs
  #               trained at once (flatness_jax.jobs.concurrent_runs), queue on them)
  _lock = threading.Lock()

  def __init__(self, fn):
    self.fn = fn
    self.pending = {}  # (a, b) -> future
    self.threads = []

  @classmethod
  def _executor(cls):
    with cls._lock:
      if cls._pool is None:
        cls._pool = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="feed")
      return cls._pool

  def _run(self, a: int, b: int):
    return threading.current_thread().name, self.fn(a, b)

  def start(self, a: int, b: int) -> None:
    """Begin computing fn(a, b) on the feed thread (a range already started is left as it is)."""
    if (a, b) not in self.pending:
      self.pending[(a, b)] = self._executor().submit(self._run, a, b)

  def get(self, a: int, b: int):
    """fn(a, b): the started computation's result, else computed on the calling thread; drops other ranges."""
    future = self.pending.pop((a, b), None)
    for other in self.pending.values():  # a range the loop did not ask for next (a resume, a stop)
      other.cancel()
    self.pending.clear()
    name, value = future.result() if future is not None else self._run(a, b)
    self.threads.append(name)
    return value
