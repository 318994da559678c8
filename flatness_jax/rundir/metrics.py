"""metrics.jsonl and TensorBoard events of a training run (process 0 writes; the others are no-ops).

One JSON line per logged step (flatness_jax.rundir.jsonio reads them back, skipping a torn last line), mirrored to
TF-free TensorBoard scalar events (flatness_jax.rundir.tensorboard). On resume, rows past the resumed step (written
after the checkpoint the run restarts from) are dropped, so every step is recorded once.
"""
import json
import os

from flatness_jax.rundir import jsonio
from flatness_jax.rundir import tensorboard


class MetricWriter:
  """Appends one JSON line per record to metrics.jsonl and mirrors the scalars to TensorBoard events."""

  def __init__(self, workdir: str, resume_step: int = 0):
    self.active = jsonio.is_writer()
    if not self.active:
      return
    self.path = os.path.join(workdir, "metrics.jsonl")
    kept = [r for r in jsonio.read_jsonl(self.path) if r.get("step", 0) <= resume_step]
    with open(self.path, "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in kept)
    self._f = open(self.path, "a")
    self._tb = tensorboard.SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, step: int, metrics: dict) -> None:
    if not self.active:
      return
    row = {"step": int(step), **jsonio.jsonable(metrics)}
    self._f.write(json.dumps(row) + "\n")
    self._f.flush()
    self._tb.scalars(step, {k: v for k, v in row.items() if k != "step"})

  def close(self) -> None:
    if self.active:
      self._f.close()
      self._tb.close()
