"""Files of a run directory: atomic writes, tolerant reads, and which process writes.

Only process 0 writes records (multi-host runs call the writers on every process; `is_writer` says which one
may). `write_json_atomic` / `write_text_atomic` / `save_figure` write a temporary file in the same directory and
rename it over the target, so a reader (or a killed writer) never sees half a file; `read_jsonl` skips a torn last
line left by a killed run.
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


def _write_atomic(path: str, write, suffix: str, mode: str = "w") -> None:
  """write(file object) into a temporary file beside `path`, then os.replace onto it."""
  d = os.path.dirname(os.path.abspath(path))
  os.makedirs(d, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp_", suffix=suffix)
  try:
    with os.fdopen(fd, mode) as f:
      write(f)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_json_atomic(path: str, obj) -> None:
  """Writes `obj` as JSON to `path` through a temporary file and os.replace (never a half-written file)."""
  def write(f):
    json.dump(jsonable(obj), f, indent=2, sort_keys=True)
    f.write("\n")
  _write_atomic(path, write, ".json")


def write_text_atomic(path: str, text: str) -> None:
  """Writes `text` to `path` atomically (report.md and the like)."""
  _write_atomic(path, lambda f: f.write(text), os.path.splitext(path)[1] or ".txt")


def save_figure(fig, path: str, dpi: int = 120) -> str:
  """Saves a matplotlib Figure as PNG at `path` atomically and closes it; returns the file name."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  try:
    _write_atomic(path, lambda f: fig.savefig(f, dpi=dpi, format="png"), ".png", mode="wb")
  finally:
    plt.close(fig)
  return os.path.basename(path)


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
