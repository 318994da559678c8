"""JAX's persistent compilation cache, on by default for our entry points: compile once across processes.

Every run of an experiment (each seed, each arm, each curvature or probe job) is a new process or a new jitted
function; without a persistent cache each one compiles the same XLA programs again (minutes on a 2-core CPU).
With the cache, a program compiled once is read back by later processes with the same program, backend and
devices (JAX keys entries on the compiled module, the compile options and the backend version).

`enable(path)` points JAX at `path` (created with mode 0700); `default_path()` is a per-user directory,
$XDG_CACHE_HOME/flatness_jax/jax (default ~/.cache/flatness_jax/jax). The environment variable
FLATNESS_COMPILATION_CACHE moves it (a path) or turns it off ('off', '0', 'none', '').

Trust: a cache entry is executable code that the process will run. Use only a directory that you alone can write
to: `enable` refuses (with a warning, and runs without the cache) a directory owned by another user or writable by
group or others.
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


def _trusted(path: str) -> bool:
  info = os.stat(path)
  if hasattr(os, "getuid") and info.st_uid != os.getuid():
    return False
  return not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def enable(path=None):
  """Turns on JAX's persistent compilation cache at `path` (default: `configured_path()`); returns the directory
  used, or None when the cache is off or the directory is not safe to use."""
  path = configured_path() if path is None else path
  if not path:
    return None
  os.makedirs(path, mode=0o700, exist_ok=True)  # writes: the per-user compilation cache
  if not _trusted(path):
    warnings.warn(f"compilation cache {path} is not private to this user (owner or group/other write bits); "
                  f"running without it. Set {ENV} to a directory only you can write to, or {ENV}=off.")
    return None
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return path
