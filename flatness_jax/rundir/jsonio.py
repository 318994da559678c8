"""JSON records of a run directory: atomic writes, tolerant reads, and which process writes.

Only process 0 writes records (multi-host runs call the writers on every process; `is_writer` says which one
may). `write_json_atomic` writes a temporary file in the same directory and renames it over the target, so a
reader (or a killed writer) never sees half a file; `read_jsonl` skips a torn last line left by a killed run.
"""
import json
import math
import os
import tempfile

import jax
import numpy as np


def is_writer() -> bool:
  """True on the process that writes records (process 0)."""
  return jax.process_index() == 0


def jsonable(x):
  """`x` with numpy / jax scalars and arrays as Python numbers and lists, non-finite floats as strings."""
  if isinstance(x, dict):
    return {str(k): jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [jsonable(v) for v in x]
  if hasattr(x, "__array__") and np.ndim(x) == 0:
    x = np.asarray(x).item()
  elif hasattr(x, "__array__"):
    return jsonable(np.asarray(x).tolist())
  if isinstance(x, float) and not math.isfinite(x):
    return str(x)
  return x


def write_json_atomic(path: str, obj) -> None:
  """Writes `obj` as JSON to `path` through a temporary file and os.replace (never a half-written file)."""
  d = os.path.dirname(os.path.abspath(path))
  os.makedirs(d, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp_", suffix=".json")
  try:
    with os.fdopen(fd, "w") as f:
      json.dump(jsonable(obj), f, indent=2, sort_keys=True)
      f.write("\n")
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def read_json(path: str, default=None):
  """The JSON object at `path`, or `default` when there is no such file."""
  if not os.path.exists(path):
    return default
  with open(path) as f:
    return json.load(f)


def read_jsonl(path: str) -> list[dict]:
  """Reads a JSON-lines file (metrics.jsonl), skipping a torn last line left by a killed run."""
  rows = []
  if not os.path.exists(path):
    return rows
  with open(path) as f:
    for line in f:
      try:
        rows.append(json.loads(line))
      except json.JSONDecodeError:
        continue
  return rows
