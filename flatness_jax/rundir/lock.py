"""One writer per run directory: an exclusive lock held for the life of the process that writes it.

`writer_lock(workdir)` takes `fcntl.flock(LOCK_EX | LOCK_NB)` on `workdir/.writer.lock` and writes the holder's pid
and host into it. A second process asking for the same directory fails at once with `RunDirBusyError` naming the
directory and the holder's pid, before it trains or writes anything. The kernel drops an flock when its holder
exits for any reason (SIGKILL included), so a lock left by a killed run never blocks the run that resumes it; the
lock file itself stays (deleting it would let two processes lock different files of one name).

The lock is re-entrant within a process (a pipeline that holds its workdir may call jobs that ask for the same
directory) and is taken only by the writing process (process 0) in multi-host runs: every other process reads.
Locks work on local and most network filesystems (NFS v4 emulates flock with POSIX locks).
"""
import contextlib
import fcntl
import os
import socket

from flatness_jax.rundir.jsonio import is_writer

LOCK_NAME = ".writer.lock"
_held = {}  # realpath of the lock file -> [file object, depth]


class RunDirBusyError(RuntimeError):
  """Another process holds the run directory's writer lock."""


def _holder(path: str) -> str:
  try:
    with open(path) as f:
      text = f.read().strip()
  except OSError:
    text = ""
  return text or "unknown pid"


def acquire(workdir: str) -> str:
  """Takes the writer lock of `workdir` (creating the directory); returns the lock file's path."""
  os.makedirs(workdir, exist_ok=True)
  path = os.path.realpath(os.path.join(workdir, LOCK_NAME))
  if path in _held:
    _held[path][1] += 1
    return path
  f = open(path, "a+")
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
  _held[path] = [f, 1]
  return path


def release(path: str) -> None:
  """Releases one hold of the lock at `path` (the flock is dropped with the last one)."""
  entry = _held.get(path)
  if entry is None:
    return
  entry[1] -= 1
  if entry[1] == 0:
    del _held[path]
    fcntl.flock(entry[0].fileno(), fcntl.LOCK_UN)
    entry[0].close()


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
