"""Files of a run directory: atomic writes, tolerant reads, and which process writes.

Only process 0 writes records (multi-host runs call the writers on every process; `is_writer` says which one
may). `write_json_atomic` / `write_text_atomic` / `save_figure` write a temporary file in the same directory and
rename it over the target, so a reader (or a killed writer) never sees half a file. JSON records are checksummed
(flatness_jax.rundir.integrity): `read_json` checks a file against its checksum and names the file when it does not
match or does not parse. `read_jsonl` returns the rows that parse and reports the lines that do not (a torn last
line left by a killed writer, a damaged line in the middle) instead of dropping them silently.
"""
import json
import math
import os

import jax
import numpy as np

from flatness_jax.rundir import integrity


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
  def write(f):
    json.dump(jsonable(obj), f, indent=2, sort_keys=True)
    f.write("\n")
  integrity.write_atomic(path, write, ".json")
  integrity.record(path)


def write_text_atomic(path: str, text: str) -> None:
  """Writes `text` to `path` atomically (report.md and the like)."""
  integrity.write_atomic(path, lambda f: f.write(text), os.path.splitext(path)[1] or ".txt")


def save_figure(fig, path: str, dpi: int = 120, metadata=None) -> str:
  """Saves a matplotlib Figure as PNG at `path` atomically (PNG `metadata` as savefig takes it) and closes it;
  returns the file name. A figure laid out once by tight_layout() keeps a placeholder layout engine, for which
  savefig draws the whole figure once more before rendering it; the placeholder is dropped first (the same pixels,
  one draw fewer)."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from matplotlib import layout_engine  # pylint: disable=g-import-not-at-top
  if isinstance(fig.get_layout_engine(), layout_engine.PlaceHolderLayoutEngine):
    fig.set_layout_engine(None)
  try:
    integrity.write_atomic(path, lambda f: fig.savefig(f, dpi=dpi, format="png", metadata=metadata), ".png",
                           mode="wb")
  finally:
    plt.close(fig)
  return os.path.basename(path)


def read_json(path: str, default=None):
  """The JSON object at `path`, or `default` when there is no such file; CorruptFileError naming the file when it
  does not match its checksum or is not JSON."""
  if not os.path.exists(path):
    return default
  integrity.verify(path)
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (ValueError, UnicodeDecodeError) as e:
    where = f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
    raise integrity.CorruptFileError(f"{path} is not valid JSON{where}") from None


def read_jsonl(path: str, problems: list | None = None) -> list[dict]:
  """The rows of a JSON-lines file (metrics.jsonl) that parse, in order. Lines that do not parse are skipped and
  described in `problems` (when given): 'metrics.jsonl line 7 is truncated or damaged'. A file that does not match
  its checksum: CorruptFileError naming it, or (with `problems`) the mismatch described there and every row that
  parses returned, so one damaged line never hides the others."""
  rows = []
  if not os.path.exists(path):
    return rows
  try:
    integrity.verify(path)
  except integrity.CorruptFileError as e:
    if problems is None:
      raise
    problems.append(str(e))
  with open(path, "rb") as f:
    lines = f.read().split(b"\n")
  for lineno, line in enumerate(lines, 1):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except (ValueError, UnicodeDecodeError):
      row = None
    if not isinstance(row, dict):
      if problems is not None:
        last = lineno == len(lines)  # no newline after it: the write was cut short
        problems.append(f"{os.path.basename(path)} line {lineno} is {'a torn last line' if last else 'damaged'}: "
                        f"{len(line)} bytes that are not a JSON row")
      continue
    rows.append(row)
  return rows
