"""The run directory's records: metrics.jsonl, TensorBoard events, JSON files written atomically, a progress bar.

Only process 0 writes (multi-host runs call these on every process; the others are no-ops).
"""
import json
import math
import os
import sys
import tempfile
import time

import jax
import numpy as np

from flatness_jax.train import tensorboard


def is_writer() -> bool:
  """True on the process that writes records (process 0)."""
  return jax.process_index() == 0


def _jsonable(x):
  if isinstance(x, dict):
    return {str(k): _jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_jsonable(v) for v in x]
  if isinstance(x, (np.generic, jax.Array)) and np.ndim(x) == 0:
    x = np.asarray(x).item()
  elif isinstance(x, (np.ndarray, jax.Array)):
    return _jsonable(np.asarray(x).tolist())
  if isinstance(x, float) and not math.isfinite(x):
    return str(x)
  return x


def write_json_atomic(path: str, obj) -> None:
  """Writes `obj` as JSON to `path` through a temporary file and os.replace (never a half-written file)."""
  d = os.path.dirname(os.path.abspath(path))
  os.makedirs(d, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp_", suffix=".json")
  with os.fdopen(fd, "w") as f:
    json.dump(_jsonable(obj), f, indent=2, sort_keys=True)
    f.write("\n")
  os.replace(tmp, path)


def read_jsonl(path: str) -> list[dict]:
  """Reads metrics.jsonl, skipping a torn last line left by a killed run."""
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


class MetricWriter:
  """Appends one JSON line per record to metrics.jsonl and mirrors the scalars to TensorBoard events."""

  def __init__(self, workdir: str, resume_step: int = 0):
    self.active = is_writer()
    if not self.active:
      return
    self.path = os.path.join(workdir, "metrics.jsonl")
    # Drop records past the resume step (written after the checkpoint we resume from).
    kept = [r for r in read_jsonl(self.path) if r.get("step", 0) <= resume_step]
    with open(self.path, "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in kept)
    self._f = open(self.path, "a")
    self._tb = tensorboard.SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, step: int, metrics: dict) -> None:
    if not self.active:
      return
    row = {"step": int(step), **_jsonable(metrics)}
    self._f.write(json.dumps(row) + "\n")
    self._f.flush()
    self._tb.scalars(step, {k: v for k, v in row.items() if k != "step"})

  def close(self) -> None:
    if self.active:
      self._f.close()
      self._tb.close()


class ProgressBar:
  """A one-line terminal progress bar (stderr) with free-form fields; plain lines when not a terminal."""

  def __init__(self, total: int, start: int = 0, label: str = "", every_s: float = 0.5):
    self.total, self.label, self.every_s = total, label, every_s
    self.tty = sys.stderr.isatty()
    self._last = 0.0
    self.update(start)

  def update(self, n: int, force: bool = False, **fields) -> None:
    now = time.time()
    if not is_writer() or (not force and now - self._last < self.every_s):
      return
    self._last = now
    frac = n / max(self.total, 1)
    bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
    text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
    line = f"{self.label} [{bar}] {n}/{self.total} {text}"
    if self.tty:
      sys.stderr.write("\r" + line[:200].ljust(120))
    elif force:
      sys.stderr.write(line + "\n")
    sys.stderr.flush()

  def close(self) -> None:
    if self.tty and is_writer():
      sys.stderr.write("\n")
