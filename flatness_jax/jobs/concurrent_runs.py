"""Training several runs of an experiment at once, each on its own host thread (`parallel.concurrent_runs`).

The small models of the cpu tier leave a core idle much of a step: their matrix products are too small for XLA's
intra-op threads to split well, and the step's smaller operations run one after another. Two independent jitted
programs dispatched from two threads then share the cores; benchmarks/bench_concurrent.py measures the gain per
model size. Each run is the same function of its own config as when trained alone (its data, masks and
initialisation are functions of its seed and step; tests/jobs/test_concurrent_runs.py checks the bytes), so
concurrency changes how long a tier takes, never what it records.

`run_all(tasks, workers, stop)` runs `tasks` in order on `workers` threads; a task starts only once the tasks it
waits for (`Task.after`: an adversarial arm tracks the same seed of its reference arm, flatness_jax.train.adversarial)
have finished. The first task to raise asks every other one to stop at its next chunk boundary (`stop`: each
checkpoints there and raises loop.Stopped), no task starts after that, and once all have returned the first error
is raised: a failure's own error before the stops it caused. A signal's stop request (flatness_jax.jobs.train
.stop_on_signals in the main thread) stops them all the same way, within JOIN_SLICE_S of the signal whichever
thread the kernel gave it to: Python runs a signal's handler in the main thread only when that thread runs bytecode,
so the main thread waits for the runs in slices rather than in one join() that lasts until a run ends.

`workers(config, n)`: how many at once, with the reason when fewer than asked — one process on one device only (a
multi-process run's collectives must be issued in the same order on every process, and several programs on a
device mesh would interleave theirs).
"""
import dataclasses
import threading
from typing import Callable

from absl import logging

from flatness_jax.train import loop

ERROR_STOP = "an error in a concurrent run"  # the stop reason the other runs record
JOIN_SLICE_S = 0.2  # seconds the main thread waits on a run before it runs any pending signal handler


@dataclasses.dataclass(frozen=True)
class Task:
  """fn(stop) -> result; `name` for messages; `after`: indices of the tasks that must finish first."""
  name: str
  fn: Callable
  after: tuple = ()


def workers(config, num_tasks: int) -> tuple[int, str]:
  """(threads to train on, why fewer than parallel.concurrent_runs asks; '' when not fewer)."""
  import jax  # pylint: disable=g-import-not-at-top
  asked = config.get("parallel", {}).get("concurrent_runs", 1)
  if asked <= 1 or num_tasks <= 1:
    return 1, ""
  if jax.process_count() > 1:
    return 1, f"{jax.process_count()} processes: one run at a time"
  if jax.device_count() > 1:
    return 1, f"{jax.device_count()} devices: one run at a time"
  return min(asked, num_tasks), ""


def run_all(tasks: list, num_workers: int, stop: loop.StopRequest) -> list:
  """The tasks' results in task order (module docstring); raises the first error once every started task ended."""
  for i, t in enumerate(tasks):
    if any(not 0 <= j < i for j in t.after):
      raise ValueError(f"task {t.name!r} waits for {t.after}: only earlier tasks can be waited for")
  state = _State(tasks)
  threads = [threading.Thread(target=_worker, args=(state, stop), name=f"run{k}", daemon=True)
             for k in range(max(1, num_workers))]
  for th in threads:
    th.start()
  for th in threads:
    while th.is_alive():  # in slices: a signal another thread took runs its Python handler here (module docstring)
      th.join(JOIN_SLICE_S)
  if state.errors:
    raise min(state.errors, key=lambda e: (isinstance(e[1], loop.Stopped), e[0]))[1]
  return state.results


class _State:
  """Which tasks are waiting, running and done, under one condition variable."""

  def __init__(self, tasks):
    self.tasks = tasks
    self.waiting = list(range(len(tasks)))
    self.done = set()
    self.results = [None] * len(tasks)
    self.errors = []  # (order of failure, exception)
    self.cv = threading.Condition()

  def next_task(self, stop):
    """The first waiting task whose prerequisites are done; None when none is left or a stop was asked."""
    with self.cv:
      while True:
        if stop.reason is not None or self.errors or not self.waiting:
          return None
        for i in self.waiting:
          if all(j in self.done for j in self.tasks[i].after):
            self.waiting.remove(i)
            return i
        self.cv.wait()

  def finish(self, i, result=None, error=None):
    with self.cv:
      if error is None:
        self.results[i] = result
        self.done.add(i)
      else:
        self.errors.append((len(self.errors), error))
      self.cv.notify_all()


def _worker(state: _State, stop: loop.StopRequest):
  while (i := state.next_task(stop)) is not None:
    task = state.tasks[i]
    try:
      result = task.fn(stop)
    except BaseException as e:  # pylint: disable=broad-except  (re-raised by run_all in the calling thread)
      if not isinstance(e, loop.Stopped):
        logging.error("%s failed (%s); stopping the runs training beside it", task.name, e)
        stop.request(ERROR_STOP)
      state.finish(i, error=e)
    else:
      state.finish(i, result)
