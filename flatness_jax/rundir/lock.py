"""One writer per run directory: an exclusive lock held for the life of the process that writes it.

`writer_lock(workdir)` takes `fcntl.flock(LOCK_EX | LOCK_NB)` on `workdir/.writer.lock` and writes the holder's pid
and host into it. A second process asking for the same directory fails at once with `RunDirBusyError` naming the
directory and the holder's pid, before it trains or writes anything. The kernel drops an flock when its holder
exits for any reason (SIGKILL included), so a lock left by a killed run never blocks the run that resumes it; the
lock file itself stays (deleting it would let two processes lock different files of one name).

The lock file is opened with O_NOFOLLOW: a `.writer.lock` that is a symbolic link (or anything but a regular file)
is refused, never followed, so the lock cannot be turned into a write to another file. `holder(workdir)` tells a
reader whether a writer holds the directory now (a shared, non-blocking flock probe that creates nothing).

The lock is re-entrant within a process (a pipeline that holds its workdir may call jobs that ask for the same
directory; a run's curvature and probes measured at once on two threads both ask for its directory): one mutex
makes each take and each let-go a single step for the process's threads, so a thread asking while another takes or
drops the flock waits for it instead of finding the flock held by its own process. It is taken only by the
writing process (process 0) in multi-host runs: every other process reads.
Locks work on local and most network filesystems (NFS v4 emulates flock with POSIX locks).
"""
import contextlib
import fcntl
import os
import socket
import stat
import threading

from flatness_jax.rundir.jsonio import is_writer

LOCK_NAME = ".writer.lock"
_held = {}  # realpath of the lock file -> [file object, depth]
_mutex = threading.Lock()  # guards _held and the flock calls of this process's threads


class RunDirBusyError(RuntimeError):
  """Another process holds the run directory's writer lock."""


def _holder(path: str) -> str:
  try:
    with open(path) as f:
      text = f.read().strip()
  except OSError:
    text = ""
  return text or "unknown pid"


def _lock_path(workdir: str) -> str:
  return os.path.join(os.path.realpath(workdir), LOCK_NAME)


def _open(path: str, flags: int):
  """The lock file opened without following a symbolic link; ValueError naming it when it is not a regular file."""
  try:
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
  except OSError as e:
    if os.path.islink(path):
      raise ValueError(f"{path} is a symbolic link; the writer lock is never followed to another file (remove the "
                       "link, then rerun)") from None
    raise
  if not stat.S_ISREG(os.fstat(fd).st_mode):
    os.close(fd)
    raise ValueError(f"{path} is not a regular file; remove it, then rerun")
  return os.fdopen(fd, "r+" if flags & os.O_RDWR else "r")


def acquire(workdir: str) -> str:
  """Takes the writer lock of `workdir` (creating the directory); returns the lock file's path."""
  os.makedirs(workdir, exist_ok=True)
  path = _lock_path(workdir)
  with _mutex:
    if path in _held:
      _held[path][1] += 1
      return path
    _held[path] = [_take(path, workdir), 1]
  return path


def _take(path: str, workdir: str):
  """The lock file at `path` opened and flocked by this process, the holder's line written in it."""
  f = _open(path, os.O_RDWR | os.O_CREAT)
  try:
    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    f.close()
    raise RunDirBusyError(f"run directory {os.path.abspath(workdir)} is in use by another writer "
                          f"({_holder(path)}); wait for it to finish or stop it, then rerun") from None
  f.seek(0)
  f.truncate()
  f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
  f.flush()
  return f


def holder(workdir: str):
  """Who holds `workdir`'s writer lock now ('pid N on HOST'), or None when no other process does (also when there
  is no lock file, or this process holds it). Reads only: creates and changes nothing."""
  path = _lock_path(workdir)
  with _mutex:  # no thread of this process takes or drops it while the probe holds a shared flock
    return _probe(path)


def _probe(path: str):
  if path in _held or not os.path.isfile(path) or os.path.islink(path):
    return None
  try:
    f = _open(path, os.O_RDONLY)
  except (OSError, ValueError):
    return None
  with f:
    try:
      fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
      return _holder(path)
    fcntl.flock(f.fileno(), fcntl.LOCK_UN)
  return None


def release(path: str) -> None:
  """Releases one hold of the lock at `path` (the flock is dropped with the last one)."""
  with _mutex:
    entry = _held.get(path)
    if entry is None:
      return
    entry[1] -= 1
    if entry[1] == 0:
      fcntl.flock(entry[0].fileno(), fcntl.LOCK_UN)
      entry[0].close()
      del _held[path]


@contextlib.contextmanager
def writer_lock(workdir: str):
  """Holds `workdir`'s writer lock for the block (process 0 only; other processes proceed without it)."""
  if not is_writer():
    yield
    return
  path = acquire(workdir)
  try:
    yield
  finally:
    release(path)
