"""Kills and stops at every event of a tiny run leave a record equal to an uninterrupted run's.

One run directory is interrupted in sequence, each run resuming from what the previous one left: SIGKILL inside
an Orbax write, at its final rename, and between the rename and the checksums; SIGTERM during an evaluation;
SIGINT while a chunk runs (a stop between scheduled checkpoints); SIGKILL half-way through a metrics row; SIGKILL
while summary.json is renamed into place. After the last resume the final parameters and optimizer state, the
checkpointed steps and every record file equal an uninterrupted run's, timing fields (wall_seconds,
tokens_per_second, TensorBoard's wall_time) aside; a stopped run exits with loop.EXIT_STOPPED and says so in one
line; a rerun of the finished run writes nothing.
"""
import json
import os

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from experiments.configs import tiny
from flatness_jax.jobs import train as train_job
from flatness_jax.rundir import checkpoints, layout, tensorboard
from flatness_jax.train import loop
from tests.jobs import faults

TIMING = ("wall_seconds", "tokens_per_second")
SEQUENCE = [  # (event, step, signal, exit status)
    ("write", 4, "SIGKILL", -9),
    ("rename", 8, "SIGKILL", -9),
    ("checksums", 16, "SIGKILL", -9),
    ("evaluation", 20, "SIGTERM", loop.EXIT_STOPPED),
    ("chunk", 20, "SIGINT", loop.EXIT_STOPPED),     # stops at 30, between scheduled checkpoints
    ("row", 40, "SIGKILL", -9),
    ("summary", 40, "SIGKILL", -9),
    ("none", 0, "SIGKILL", 0),
]


def _rows(workdir):
  rows = []
  for line in open(os.path.join(workdir, layout.METRICS)):
    rows.append({k: v for k, v in json.loads(line).items() if k not in TIMING})
  return rows


def _state(workdir, step):
  restored = ocp.StandardCheckpointer().restore(os.path.join(workdir, "checkpoints", str(step), "default"))
  return jax.tree.map(np.asarray, restored)


def record(workdir) -> dict:
  """Everything the run directory records, timing aside, in a comparable form."""
  summary = json.load(open(os.path.join(workdir, layout.SUMMARY)))
  scalars = [(s, t, v) for s, t, v in tensorboard.read_scalars(os.path.join(workdir, layout.TENSORBOARD))
             if t not in TIMING]
  return {
      "files": sorted(n for n in os.listdir(workdir) if n != ".writer.lock"),
      "config": open(os.path.join(workdir, layout.CONFIG), "rb").read(),
      "metrics": _rows(workdir),
      "summary": {k: v for k, v in summary.items() if k not in TIMING},
      "pairs": open(os.path.join(workdir, "heldout_losses.npz"), "rb").read(),
      "tensorboard": sorted(scalars),
      "tensorboard_unique": len(scalars) == len({(s, t) for s, t, _ in scalars}),
      "checkpoints": checkpoints.complete_steps(workdir),
      "checksums": sorted(json.load(open(os.path.join(workdir, ".checksums.json")))),
  }


def _assert_same(a, b):
  for key in a:
    assert a[key] == b[key], key


def _files_and_mtimes(workdir):
  return {os.path.join(r, f): os.stat(os.path.join(r, f)).st_mtime_ns for r, _, fs in os.walk(workdir) for f in fs
          if f != ".writer.lock"}


@pytest.mark.slow  # a campaign of interrupted runs: CI runs it in .ci/run's slow step
def test_kills_and_stops_at_every_event_leave_the_record_of_an_uninterrupted_run(tmp_path, finished_tiny_run):
  ref, wd = finished_tiny_run, str(tmp_path / "run")
  for event, step, sig, status in SEQUENCE:
    proc = faults.main(wd, fault=(event, step, sig))
    assert proc.returncode == status, f"{event} {step} {sig}: {proc.returncode}\n{proc.stderr[-3000:]}"
    if status == loop.EXIT_STOPPED:
      stopped_at = 20 if event == "evaluation" else 30
      last = proc.stderr.strip().splitlines()[-1]
      assert last == (f"{wd}: stopped by {sig} at step {stopped_at} with its checkpoint saved; run the same "
                      "command again to resume"), last
      assert stopped_at in checkpoints.complete_steps(wd)
    assert not checkpoints.moved_aside(wd)  # nothing here is corrupt: nothing moved
  expected, got = record(ref), record(wd)
  _assert_same(expected, got)
  assert got["tensorboard_unique"] and len({r["step"] for r in got["metrics"]}) == len(got["metrics"])
  for step in expected["checkpoints"]:
    for a, b in zip(jax.tree.leaves(_state(ref, step)), jax.tree.leaves(_state(wd, step))):
      np.testing.assert_array_equal(a, b)
  before = _files_and_mtimes(wd)
  summary = train_job.train_and_evaluate(tiny.get_config(), wd)  # a rerun of the finished run
  assert _files_and_mtimes(wd) == before  # nothing new, nothing rewritten
  assert summary == json.load(open(os.path.join(wd, layout.SUMMARY)))
