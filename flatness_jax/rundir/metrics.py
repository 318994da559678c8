"""metrics.jsonl and TensorBoard events of a training run (process 0 writes; the others are no-ops).

One JSON line per logged step, mirrored to TF-free TensorBoard scalar events (flatness_jax.rundir.tensorboard), with
the file's checksum kept current (flatness_jax.rundir.integrity). Every step is recorded once across kills and
restarts: a writer opened for a run that resumes from step s keeps the rows of steps <= s (a fresh run, s = -1,
keeps none) and drops the later ones, which the resumed run writes again; TensorBoard's files likewise. A line
that does not parse is never dropped silently: inside the kept rows it stays as it is (the reader reports it), and
after them (a torn last line of a killed run) it goes with the rows it belonged to; `dropped` says what was dropped.
A file that no longer matches its checksum (changed after it was written) is moved aside to
metrics.corrupt_<k>.jsonl, never deleted, and its rows continue in a new metrics.jsonl as above; `moved` says so.
"""
import hashlib
import json
import os

from flatness_jax.rundir import integrity
from flatness_jax.rundir import jsonio
from flatness_jax.rundir import layout
from flatness_jax.rundir import tensorboard


def _checked(path: str):
  """(the file to read the kept rows from, what was done): metrics.jsonl itself when it matches its checksum (or has
  none), else the copy it was moved aside to (never deleted) and the sentence saying so."""
  try:
    integrity.verify(path)
    return path, []
  except integrity.CorruptFileError as e:
    moved = integrity.move_aside(path)
    return moved, [f"{e}; moved aside to {moved}, its rows kept"]


def _kept_lines(path: str, keep_through: int):
  """(lines to keep, descriptions of dropped damaged lines) of metrics.jsonl (at `path`, or the copy it was moved
  aside to) for a run resuming at `keep_through`."""
  if not os.path.exists(path):
    return [], []
  with open(path, "rb") as f:
    lines = [l for l in f.read().split(b"\n") if l.strip()]
  steps = []
  for line in lines:
    try:
      row = json.loads(line)
      steps.append(int(row["step"]) if isinstance(row, dict) else None)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
      steps.append(None)
  last_kept = max((i for i, s in enumerate(steps) if s is not None and s <= keep_through), default=-1)
  kept = [l for i, (l, s) in enumerate(zip(lines, steps)) if (s is not None and s <= keep_through)
          or (s is None and i < last_kept)]
  dropped = [f"{layout.METRICS} line {i + 1} ({len(l)} bytes, not a JSON row) after the rows kept"
             for i, (l, s) in enumerate(zip(lines, steps)) if s is None and i > last_kept]
  return kept, dropped


class MetricWriter:
  """Appends one JSON line per record to metrics.jsonl and mirrors the scalars to TensorBoard events."""

  def __init__(self, workdir: str, keep_through: int = -1):
    self.active = jsonio.is_writer()
    self.dropped, self.moved = [], []
    if not self.active:
      return
    self.path = os.path.join(workdir, layout.METRICS)
    source, self.moved = _checked(self.path)
    kept, self.dropped = _kept_lines(source, keep_through)
    data = b"".join(l + b"\n" for l in kept)
    if not os.path.exists(self.path) or os.path.getsize(self.path) != len(data):
      integrity.write_atomic(self.path, lambda f: f.write(data), ".jsonl", mode="wb")
    self._hash, self._size = hashlib.sha256(data), len(data)
    integrity.record(self.path, self._size, self._hash.hexdigest(), append=True)
    self._f = open(self.path, "ab")
    self._tb = tensorboard.SummaryWriter(os.path.join(workdir, layout.TENSORBOARD), keep_through)

  def write(self, step: int, metrics: dict) -> None:
    if not self.active:
      return
    row = {"step": int(step), **jsonio.jsonable(metrics)}
    line = (json.dumps(row) + "\n").encode()
    self._f.write(line)
    self._f.flush()
    self._hash.update(line)
    self._size += len(line)
    integrity.record(self.path, self._size, self._hash.hexdigest(), append=True)
    self._tb.scalars(step, {k: v for k, v in row.items() if k != "step"})

  def close(self) -> None:
    if self.active:
      self._f.close()
      self._tb.close()
