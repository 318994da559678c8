"""The training loop: chunks of steps between events, and hooks that see the state at each event.

    state = loop.run(trainer, state, start, hooks)

runs the `lax.scan` chunks from `start` to `train.num_steps` (flatness_jax.train.schedule.chunk_bounds: a chunk
never crosses an event step, so every hook sees exactly the state after its step). After each chunk ending at step
s, every hook whose `steps` contain s (or whose `steps` is None: every chunk) is called as `fn(s, state, row)` with
the chunk's metrics row, in order, and may return a new state (or None to keep it). A fresh run (start = 0) calls
the hooks of step 0 first, before any training. The hooks are where a run's side effects live (evaluating and
writing metrics, checkpoints, progress): flatness_jax.jobs.train builds them. The loop itself only trains.
"""
import dataclasses
from typing import Callable, Optional

from flatness_jax.train import schedule


@dataclasses.dataclass(frozen=True)
class Hook:
  """fn(step, state, row) -> state or None, at the given steps (None: after every chunk)."""
  fn: Callable
  steps: Optional[frozenset] = None

  def due(self, step: int) -> bool:
    return self.steps is None or step in self.steps


def run(trainer, state, start: int, hooks=()):
  """Trains from step `start` to the end (module docstring); returns the final state."""
  def call(step, state, row):
    for hook in hooks:
      if hook.due(step):
        state = hook.fn(step, state, row) or state
    return state

  if start == 0:
    state = call(0, state, {})
  for a, b in schedule.chunk_bounds(trainer.config, start):
    state, row = trainer.run_chunk(state, a, b)
    state = call(b, state, row)
  return state
