"""Orbax checkpoints of a run directory: the layout (`checkpoints/<step>/default`), a keep policy, and a restore
that survives a bad checkpoint. The only module that knows where and how parameters are stored.

When to save is the training loop's business (flatness_jax.train.schedule.checkpoint_steps: 0, 1, 2, 4, ... below
`every`, then every `every` steps, and the last step). Orbax writes each checkpoint into a temporary directory and
renames it when complete, so a killed run never leaves a half-written checkpoint that looks finished. Keep policy:
the `protected` steps (the log-spaced early trajectory), multiples of `keep_period` (the continued-training record),
and the newest `max_to_keep`; the rest are deleted.

On restore the newest checkpoint is tried first; one that fails to read (truncated or corrupt files) is moved
aside to `corrupt_<step>` with a warning and the previous one is tried, so a run is never lost to one bad file.
"""
import os
import shutil

from absl import logging
import jax
import orbax.checkpoint as ocp

DIRECTORY = "checkpoints"   # <run>/checkpoints/<step>/default holds the state of step <step>
ITEM = "default"


class CheckpointError(RuntimeError):
  """No checkpoint in the directory could be restored."""


def directory(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), DIRECTORY)


def complete_steps(workdir: str) -> list[int]:
  """Steps with a complete checkpoint in the run directory, ascending (Orbax renames a checkpoint into place when
  it is complete, so a step directory with its item is a finished one)."""
  d = directory(workdir)
  if not os.path.isdir(d):
    return []
  return sorted(int(s) for s in os.listdir(d) if s.isdigit() and os.path.isdir(os.path.join(d, s, ITEM)))


def restore_params(workdir: str, step: int):
  """The parameters saved at `step`, as plain arrays on the default device (readers: curvature, probes)."""
  path = os.path.join(directory(workdir), str(step), ITEM)
  try:
    restored = ocp.StandardCheckpointer().restore(path)
  except Exception as e:  # pylint: disable=broad-except
    raise RuntimeError(f"checkpoint {path} could not be read: {type(e).__name__}: {e}") from e
  return jax.tree.map(jax.numpy.asarray, restored["params"])


class Checkpointer:
  """Saves and restores a pytree of (sharded) arrays in a run directory's checkpoints/."""

  def __init__(self, workdir: str, *, protected=(), keep_period: int = 0, max_to_keep: int = 3,
               async_save: bool = False):
    self.directory = directory(workdir)
    self.protected = set(protected)
    self.keep_period, self.max_to_keep = keep_period, max_to_keep
    options = ocp.CheckpointManagerOptions(create=True, enable_async_checkpointing=async_save,
                                           cleanup_tmp_directories=True)
    self.manager = ocp.CheckpointManager(self.directory, options=options)

  def save(self, step: int, state) -> None:
    """Writes `state` at `step` (atomically), then applies the keep policy."""
    if step in self.manager.all_steps():
      return
    self.manager.save(step, args=ocp.args.StandardSave(state), force=True)
    self.manager.wait_until_finished()
    self._apply_keep_policy()

  def _apply_keep_policy(self) -> None:
    steps = sorted(self.manager.all_steps())
    keep = set(steps[-self.max_to_keep:]) if self.max_to_keep else set(steps)
    keep |= {s for s in steps if s in self.protected}
    if self.keep_period:
      keep |= {s for s in steps if s % self.keep_period == 0}
    for s in steps:
      if s not in keep:
        self.manager.delete(s)

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def restore(self, abstract_state, step: int | None = None):
    """Restores into `abstract_state` (ShapeDtypeStructs with shardings); returns (step, state) or (None, None).

    Without `step`, the newest readable checkpoint is restored; unreadable ones are moved aside with a warning.
    """
    steps = [step] if step is not None else sorted(self.manager.all_steps(), reverse=True)
    errors = []
    for s in steps:
      try:
        state = self.manager.restore(s, args=ocp.args.StandardRestore(abstract_state))
        return s, state
      except Exception as e:  # pylint: disable=broad-except
        errors.append(f"step {s}: {type(e).__name__}: {str(e)[:300]}")
        if step is not None:
          break
        logging.warning("checkpoint at step %d in %s is unreadable (%s); falling back to the previous one",
                        s, self.directory, errors[-1])
        self._move_aside(s)
    if errors:
      raise CheckpointError(f"no readable checkpoint in {self.directory}:\n  " + "\n  ".join(errors))
    return None, None

  def _move_aside(self, step: int) -> None:
    """Process 0 moves the unreadable checkpoint aside; every process waits for it, then re-lists the steps."""
    if jax.process_index() == 0:
      src = os.path.join(self.directory, str(step))
      if os.path.isdir(src):
        dst = os.path.join(os.path.dirname(self.directory), f"corrupt_{step}")
        shutil.rmtree(dst, ignore_errors=True)
        shutil.move(src, dst)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      multihost_utils.sync_global_devices(f"checkpoint_move_aside_{step}")
    self.manager.reload()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
