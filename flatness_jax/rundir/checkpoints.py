"""Orbax checkpoints of a run directory: the layout (`checkpoints/<step>/default`), a keep policy, checksums, and a
restore that survives a bad checkpoint without ever hiding or deleting one. The only module that knows where and
how parameters are stored.

When to save is the training loop's business (flatness_jax.train.schedule.checkpoint_steps: 0, 1, 2, 4, ... below
`every`, then every `every` steps, and the last step). Orbax writes each checkpoint into a temporary directory and
renames it when complete, so a killed run never leaves a half-written checkpoint that looks finished; then the
SHA-256 of every file goes into `checkpoints/<step>/checksums.json` (flatness_jax.rundir.integrity). A single
process copies the state to host memory before Orbax writes it (`host_copy`: the same tree and values, without
Orbax's per-leaf device slicing and transfers; benchmarks/bench_checkpoint.py measures the two); several processes
keep Orbax's device-array path, which writes each process's own shards. A state with a non-finite value is never
saved (NonFiniteStateError names the step and the leaf). Keep policy: the `protected` steps (the log-spaced early
trajectory), multiples of `keep_period` (the continued-training record), and the newest `max_to_keep`; the rest
are deleted. A `transient` checkpoint (one saved because the run was stopped between scheduled steps) is deleted as
soon as a newer one exists, so an interrupted run keeps the checkpoints an uninterrupted one keeps.

Restore tries the newest checkpoint first:
  * files that do not match their checksums: the checkpoint is corrupt; it is moved aside to `corrupt_<step>` (or
    `corrupt_<step>.<k>`: nothing is ever overwritten or deleted) with a warning naming the file, and the previous
    one is tried;
  * a checkpoint whose saved tree (leaf paths, shapes, dtypes) differs from the state being restored is not
    corrupt but of another model or optimizer: CheckpointMismatchError names the first difference, and nothing
    is moved;
  * a checkpoint without checksums that fails to read, or that holds non-finite values, is moved aside like a
    corrupt one; one with matching checksums that fails to read stops the run (CheckpointError), unmoved.
If checkpoints existed and none could be restored, CheckpointError says so (the run must not start again from
step 0 over its own record).
"""
import errno
import os

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from flatness_jax.rundir import integrity

DIRECTORY = "checkpoints"   # <run>/checkpoints/<step>/default holds the state of step <step>
ITEM = "default"
MOVED_PREFIX = "corrupt_"   # <run>/corrupt_<step>[.<k>]: checkpoints moved aside by a restore


class CheckpointError(RuntimeError):
  """No checkpoint in the directory could be restored, or one could not be written."""


class CheckpointMismatchError(ValueError):
  """A checkpoint holds the state of another model or optimizer than the one being restored."""


class NonFiniteStateError(FloatingPointError):
  """The state of `step`, to be checkpointed, holds NaN or infinite values."""

  def __init__(self, message: str, step: int | None = None):
    super().__init__(message)
    self.step = step


def directory(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), DIRECTORY)


def complete_steps(workdir: str) -> list[int]:
  """Steps with a complete checkpoint in the run directory, ascending (Orbax renames a checkpoint into place when
  it is complete, so a step directory with its item is a finished one)."""
  d = directory(workdir)
  if not os.path.isdir(d):
    return []
  return sorted(int(s) for s in os.listdir(d) if s.isdigit() and os.path.isdir(os.path.join(d, s, ITEM)))


def moved_aside(workdir: str) -> list[str]:
  """Names of the checkpoints a restore moved aside (`corrupt_<step>[.<k>]`), sorted."""
  workdir = os.path.abspath(workdir)
  if not os.path.isdir(workdir):
    return []
  return sorted(n for n in os.listdir(workdir) if n.startswith(MOVED_PREFIX))


def short(e: BaseException, limit: int = 160) -> str:
  """'Type: first line of the message' cut to `limit` characters (TensorStore's errors run to thousands)."""
  text = (str(e).strip().splitlines() or [""])[0]
  text = f"{type(e).__name__}: {text}"
  return text if len(text) <= limit else text[:limit - 1] + "…"


def _disk_bytes(directory: str) -> int:
  return sum(os.path.getsize(os.path.join(r, f)) for r, _, files in os.walk(directory) for f in files)


def _os_error(e: BaseException):
  """The OSError with an errno among the causes of `e` (Orbax and TensorStore wrap them), or None."""
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if isinstance(e, OSError) and e.errno:
      return e
    e = e.__cause__ or e.__context__
  return None


def _key(k) -> str:
  for attr in ("key", "name", "idx"):
    if hasattr(k, attr):
      return str(getattr(k, attr))
  return str(k)


def _leaves(tree) -> dict:
  """{'a/b/0': (shape, dtype)} of a pytree of arrays, ShapeDtypeStructs or Orbax ArrayMetadata."""
  return {"/".join(_key(k) for k in path): (tuple(leaf.shape), np.dtype(leaf.dtype).name)
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def tree_difference(saved, wanted) -> str:
  """The first difference between a checkpoint's tree and the state wanted, in words ('' when they agree)."""
  a, b = _leaves(saved), _leaves(wanted)
  for name in sorted(set(a) | set(b)):
    if name not in b:
      return f"it holds {name} {a[name][0]}, which this state lacks"
    if name not in a:
      return f"it lacks {name} {b[name][0]}, which this state has"
    if a[name] != b[name]:
      return f"{name} is {a[name][0]} {a[name][1]} there, {b[name][0]} {b[name][1]} here"
  return ""


@jax.jit
def _finite_flags(leaves):
  return jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]) if leaves else jnp.ones((0,), bool)


def nonfinite_leaf(state) -> str:
  """The path of the first floating-point leaf of `state` holding a NaN or infinity ('' when all are finite); one
  jitted reduction over every leaf (sharded leaves included), or numpy's when every leaf is a host array."""
  named = [("/".join(_key(k) for k in path), x) for path, x in jax.tree_util.tree_leaves_with_path(state)
           if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)]
  if all(isinstance(x, np.ndarray) for _, x in named):
    flags = [bool(np.isfinite(x).all()) for _, x in named]
  else:
    flags = np.asarray(jax.device_get(_finite_flags([x for _, x in named])))
  return next((name for (name, _), ok in zip(named, flags) if not ok), "")


def host_copy(state):
  """`state` with every array copied to host memory (numpy), for a single process's save: Orbax then writes each
  leaf with its numpy handler instead of slicing and transferring device arrays leaf by leaf, which for small
  states (the cpu tier's: ~130 leaves, a few MB) is most of a save's time (benchmarks/bench_checkpoint.py). The
  values and the checkpoint's tree (paths, shapes, dtypes) are the same; a restore places them in the requested
  shardings."""
  return jax.device_get(state)


def restore_params(workdir: str, step: int):
  """The parameters saved at `step`, as plain arrays on the default device (readers: curvature, probes);
  CorruptFileError naming the file when the checkpoint does not match its checksums."""
  step_dir = os.path.join(directory(workdir), str(step))
  status, what = integrity.verify_tree(step_dir)
  if status == "corrupt":
    raise integrity.CorruptFileError(f"checkpoint {step} of {os.path.abspath(workdir)} is corrupt: {what}")
  path = os.path.join(step_dir, ITEM)
  try:
    restored = ocp.StandardCheckpointer().restore(path)
  except Exception as e:  # pylint: disable=broad-except
    raise CheckpointError(f"checkpoint {path} could not be read: {short(e)}") from e
  return jax.tree.map(jax.numpy.asarray, restored["params"])


def param_count(workdir: str, step: int) -> int:
  """The number of parameters saved at `step`, counted from the checkpoint's metadata (no array is read);
  CorruptFileError naming the checkpoint when its metadata cannot be read."""
  manager = ocp.CheckpointManager(directory(workdir), item_handlers=ocp.StandardCheckpointHandler(),
                                  options=ocp.CheckpointManagerOptions(create=False))
  try:
    tree = manager.item_metadata(step)
  except Exception as e:  # pylint: disable=broad-except
    raise integrity.CorruptFileError(f"checkpoint {step} of {workdir}: its metadata cannot be read ({short(e)})"
                                     ) from None
  finally:
    manager.close()
  return int(sum(np.prod(shape, dtype=np.int64) for name, (shape, _) in _leaves(tree).items()
                 if name.startswith("params/")))


def _agree(value: int) -> int:
  """Process 0's `value` on every process (one decision about a checkpoint, whoever looked at the files)."""
  if jax.process_count() == 1:
    return value
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return int(multihost_utils.broadcast_one_to_all(np.int32(value)))


class Checkpointer:
  """Saves and restores a pytree of (sharded) arrays in a run directory's checkpoints/."""

  def __init__(self, workdir: str, *, protected=(), keep_period: int = 0, max_to_keep: int = 3,
               async_save: bool = False, host_save: bool | None = None):
    """`host_save`: copy the state to host memory before Orbax writes it (`host_copy`); None: when this is the
    only process (every array is then addressable here), False: Orbax's own device-array path."""
    self.workdir = os.path.abspath(workdir)
    self.host_save = jax.process_count() == 1 if host_save is None else bool(host_save)
    self.directory = directory(workdir)
    self.protected = set(protected)
    self.keep_period, self.max_to_keep = keep_period, max_to_keep
    options = ocp.CheckpointManagerOptions(create=True, enable_async_checkpointing=async_save,
                                           cleanup_tmp_directories=True)
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_handlers=ocp.StandardCheckpointHandler())

  def step_dir(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def _room(self, state) -> int:
    """0 when the checkpoints directory can take a checkpoint of `state` (writable, with free space for the newest
    one's size on disk, or the state's bytes), else the errno that writing would fail with."""
    steps = self.all_steps()
    need = (_disk_bytes(self.step_dir(steps[-1])) if steps
            else sum(x.nbytes for x in jax.tree.leaves(state) if hasattr(x, "nbytes")))
    info = os.statvfs(self.directory)
    if info.f_flag & os.ST_RDONLY:
      return errno.EROFS
    if not os.access(self.directory, os.W_OK):
      return errno.EACCES
    return errno.ENOSPC if info.f_bavail * info.f_frsize < need else 0

  def save(self, step: int, state, transient: bool = False) -> None:
    """Writes `state` at `step` (atomically, then its checksums), then applies the keep policy; a state with a
    non-finite value raises NonFiniteStateError and writes nothing, and so does a directory without the room for it
    (OSError naming the checkpoint: Orbax's own failure would bury the reason in pages of logged tracebacks)."""
    if step in self.manager.all_steps():
      return
    if self.host_save:
      state = host_copy(state)
    bad = nonfinite_leaf(state)
    if bad:
      raise NonFiniteStateError(f"the state at step {step} has non-finite values in {bad}; it is not checkpointed",
                                step)
    code = _agree(self._room(state) if jax.process_index() == 0 else 0)
    if code:
      raise OSError(code, os.strerror(code), self.step_dir(step))
    try:
      self.manager.save(step, args=ocp.args.StandardSave(state), force=True)
      self.manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except
      cause = _os_error(e)
      if cause is not None:  # a full or read-only disk: an OSError naming the checkpoint (experiments/errors.py)
        raise OSError(cause.errno, cause.strerror, self.step_dir(step)) from e
      raise CheckpointError(f"checkpoint {step} could not be written to {self.directory}: {short(e)}") from e
    if jax.process_index() == 0:
      integrity.write_tree(self.step_dir(step), transient=bool(transient))
    self._apply_keep_policy()

  def _transient(self, step: int) -> bool:
    doc = integrity.read_tree(self.step_dir(step))
    return bool(doc and doc.get("transient"))

  def _apply_keep_policy(self) -> None:
    steps = sorted(self.manager.all_steps())
    keep = set(steps[-self.max_to_keep:]) if self.max_to_keep else set(steps)
    keep |= {s for s in steps if s in self.protected}
    if self.keep_period:
      keep |= {s for s in steps if s % self.keep_period == 0}
    keep -= {s for s in steps[:-1] if self._transient(s)}
    for s in steps:
      if s not in keep:
        self.manager.delete(s)

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def restore(self, abstract_state, step: int | None = None):
    """Restores into `abstract_state` (ShapeDtypeStructs with shardings); returns (step, state), or (None, None)
    when there is no checkpoint at all (module docstring for what happens to a bad one)."""
    steps = [step] if step is not None else sorted(self.manager.all_steps(), reverse=True)
    moved = []
    for s in steps:
      status, what = integrity.verify_tree(self.step_dir(s)) if jax.process_index() == 0 else ("", "")
      verified = _agree({"verified": 1, "corrupt": 2}.get(status, 0))
      if verified == 2:
        moved.append(self._move_aside(s, what or "its files do not match their checksums"))
        continue
      difference = ""
      try:
        saved = self.manager.item_metadata(s)
        difference = tree_difference(saved, abstract_state) if saved is not None else ""
        state = None if difference else self.manager.restore(s, args=ocp.args.StandardRestore(abstract_state))
      except Exception as e:  # pylint: disable=broad-except
        if verified == 1:
          raise CheckpointError(f"checkpoint {s} in {self.directory} matches its checksums but could not be "
                                f"restored: {short(e)}") from e
        moved.append(self._move_aside(s, f"unreadable: {short(e)}"))
        continue
      if difference:
        raise CheckpointMismatchError(f"checkpoint {s} in {self.directory} holds the state of another model or "
                                      f"optimizer ({difference}); it is left as it is")
      bad = nonfinite_leaf(state)
      if bad:
        moved.append(self._move_aside(s, f"non-finite values in {bad}"))
        continue
      return s, state
    if moved:
      raise CheckpointError(f"no checkpoint in {self.directory} could be restored; moved aside: {', '.join(moved)} "
                            "(the run stops rather than start again from step 0)")
    return None, None

  def _move_aside(self, step: int, why: str) -> str:
    """Process 0 renames the checkpoint of `step` to the first free `corrupt_<step>[.<k>]` beside checkpoints/ and
    writes why into it; every process waits for it, then re-lists the steps. Returns the new name."""
    name = f"{MOVED_PREFIX}{step}"
    if jax.process_index() == 0:
      k = 0
      while os.path.exists(os.path.join(self.workdir, name)):
        k += 1
        name = f"{MOVED_PREFIX}{step}.{k}"
      dst = os.path.join(self.workdir, name)
      os.rename(self.step_dir(step), dst)
      with open(os.path.join(dst, "MOVED_ASIDE.txt"), "w") as f:
        f.write(f"checkpoint {step} moved aside by a restore: {why}\n")
      logging.warning("checkpoint %d of %s is not usable (%s); moved aside to %s, trying the previous one",
                      step, self.workdir, why, dst)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      multihost_utils.sync_global_devices(f"checkpoint_move_aside_{step}")
    self.manager.reload()
    return name

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
