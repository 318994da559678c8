"""JAX's persistent compilation cache, on by default for our entry points: compile once across processes.

Every run of an experiment (each seed, each arm, each curvature or probe job) is a new process or a new jitted
function; without a persistent cache each one compiles the same XLA programs again (minutes on a 2-core CPU).
With the cache, a program compiled once is read back by later processes with the same program, backend and
devices (JAX keys entries on the compiled module, the compile options and the backend version).

`enable(path)` points JAX at `path` (created with mode 0700); `default_path()` is a per-user directory,
$XDG_CACHE_HOME/flatness_jax/jax (default ~/.cache/flatness_jax/jax). The environment variable
FLATNESS_COMPILATION_CACHE moves it (a path) or turns it off ('off', '0', 'none', '').

Trust: a cache entry is executable code that the process will run. Use only a directory that you alone can write
to: `enable` refuses (with a warning, and runs without the cache) a directory that another user could change or
replace: the directory or any entry in it owned by another user (root excepted for the parents) or writable by
group or others, an entry that is a symbolic link, or a parent directory writable by group or others without the
sticky bit (/tmp's sticky bit keeps others from renaming what is ours).
"""
import os
import stat
import warnings

import jax

ENV = "FLATNESS_COMPILATION_CACHE"
OFF = ("off", "0", "none", "false", "")
MIN_COMPILE_SECONDS = 0.2  # programs that compile faster are cheaper to recompile than to read back


def default_path() -> str:
  """The per-user cache directory (module docstring)."""
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "flatness_jax", "jax")


def configured_path():
  """The directory the environment asks for, or None when the cache is off."""
  value = os.environ.get(ENV)
  if value is None:
    return default_path()
  return None if value.strip().lower() in OFF else os.path.abspath(os.path.expanduser(value))


def untrusted_reason(path: str):
  """Why the cache directory `path` is not private to this user (module docstring), or None when it is."""
  uid = os.getuid() if hasattr(os, "getuid") else None
  writable = stat.S_IWGRP | stat.S_IWOTH

  def foreign(info, allow_root: bool) -> bool:
    return uid is not None and info.st_uid != uid and not (allow_root and info.st_uid == 0)

  info = os.lstat(path)
  if stat.S_ISLNK(info.st_mode) or foreign(info, False) or info.st_mode & writable:
    return f"{path} is a link, owned by another user, or writable by group/others"
  parent = os.path.dirname(os.path.abspath(path))
  while True:
    p = os.stat(parent)
    if foreign(p, True) or (p.st_mode & writable and not p.st_mode & stat.S_ISVTX):
      return f"its parent {parent} is owned by another user or writable by group/others without the sticky bit"
    up = os.path.dirname(parent)
    if up == parent:
      break
    parent = up
  for root, dirs, files in os.walk(path):
    for name in dirs + files:
      entry = os.path.join(root, name)
      e = os.lstat(entry)
      if stat.S_ISLNK(e.st_mode) or foreign(e, False) or e.st_mode & writable:
        return f"its entry {entry} is a link, owned by another user, or writable by group/others"
  return None


def enable(path=None):
  """Turns on JAX's persistent compilation cache at `path` (default: `configured_path()`); returns the directory
  used, or None when the cache is off or the directory is not safe to use."""
  path = configured_path() if path is None else path
  if not path:
    return None
  os.makedirs(path, mode=0o700, exist_ok=True)  # writes: the per-user compilation cache
  reason = untrusted_reason(path)
  if reason:
    warnings.warn(f"compilation cache {path} is not private to this user ({reason}); running without it. Set "
                  f"{ENV} to a directory only you can write to, or {ENV}=off.")
    return None
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return path
