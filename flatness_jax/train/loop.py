"""The training loop: chunks of steps between events, hooks that see the state at each event, and a stop request
that ends the run at the next chunk boundary.

    state = loop.run(trainer, state, start, hooks, stop)

runs the `lax.scan` chunks from `start` to `train.num_steps` (flatness_jax.train.schedule.chunk_bounds: a chunk
never crosses an event step, so every hook sees exactly the state after its step). After each chunk ending at step
s, every hook whose `steps` contain s (or whose `steps` is None: every chunk) is called as `fn(s, state, row)` with
the chunk's metrics row, in order, and may return a new state (or None to keep it). A fresh run (start = 0) calls
the hooks of step 0 first, before any training. The hooks are where a run's side effects live (evaluating and
writing metrics, checkpoints, progress): flatness_jax.jobs.train builds them. The loop itself only trains.

Stopping (preemption). `stop` is a StopRequest (a signal handler calls `stop.request('SIGTERM')`). After the hooks
of a chunk's last step s, if a stop was requested on any process (`StopRequest.agreed`: every process of a multi-
host run takes part, so all stop at the same s), the hooks marked `on_stop` that were not due at s run at s (the
checkpoint), every process waits for the others there, and the loop raises Stopped(s): a resumed run restarts from s
and loses at most the chunk that was running when the request came. Chunk boundaries from s are those of an
uninterrupted run, so the resumed run computes the same steps.
"""
import dataclasses
from typing import Callable, Optional

import jax
import numpy as np

from flatness_jax.train import schedule

EXIT_STOPPED = 75  # EX_TEMPFAIL: the run stopped cleanly on request and resumes when started again.


@dataclasses.dataclass(frozen=True)
class Hook:
  """fn(step, state, row) -> state or None, at the given steps (None: after every chunk); `on_stop` hooks also run
  at the step where the loop stops on request."""
  fn: Callable
  steps: Optional[frozenset] = None
  on_stop: bool = False

  def due(self, step: int) -> bool:
    return self.steps is None or step in self.steps


class StopRequest:
  """A request to stop at the next chunk boundary; `reason` names who asked (a signal's name), None until then."""

  def __init__(self):
    self.reason = None

  def request(self, reason: str) -> None:
    self.reason = self.reason or reason

  def agreed(self) -> bool:
    """Whether any process has a request (a collective on multi-host runs: every process calls it at every
    boundary, so all see the same answer at the same step, and take the first requesting process's reason)."""
    if jax.process_count() == 1:
      return self.reason is not None
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    code = np.frombuffer((self.reason or "").encode()[:32].ljust(32), np.uint8)
    codes = np.asarray(multihost_utils.process_allgather(code)).reshape(-1, 32)
    asked = [bytes(c).decode(errors="replace").strip() for c in codes if c.any() and bytes(c).strip()]
    if asked:
      self.request(asked[0])
    return bool(asked)


class Stopped(Exception):
  """The loop stopped on request at `step`, after the stop hooks ran there (a checkpoint of `step` exists)."""
  exit_status = EXIT_STOPPED

  def __init__(self, step: int, reason: str, message: str = ""):
    super().__init__(message or f"stopped by {reason} at step {step}")
    self.step, self.reason = step, reason


def run(trainer, state, start: int, hooks=(), stop: Optional[StopRequest] = None):
  """Trains from step `start` to the end (module docstring); returns the final state, or raises Stopped."""
  def call(step, state, row, stopping=False):
    for hook in hooks:
      wanted = (hook.on_stop and not hook.due(step)) if stopping else hook.due(step)
      if wanted:
        state = hook.fn(step, state, row) or state
    return state

  def maybe_stop(step, state, row):
    if stop is not None and step < trainer.config.train.num_steps and stop.agreed():
      call(step, state, row, stopping=True)
      if jax.process_count() > 1:  # nobody exits (and has a launcher stop the rest) before the checkpoint is whole
        from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
        multihost_utils.sync_global_devices(f"stopped_at_{step}")
      raise Stopped(step, stop.reason)

  if start == 0:
    state = call(0, state, {})
  maybe_stop(start, state, {})
  for a, b in schedule.chunk_bounds(trainer.config, start):
    state, row = trainer.run_chunk(state, a, b)
    state = call(b, state, row)
    maybe_stop(b, state, row)
  return state
