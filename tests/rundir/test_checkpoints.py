"""Checkpoint keep policy, atomic save and fallback past a corrupt checkpoint (the schedule: tests/train/test_schedule.py)."""
import os

import jax
import jax.numpy as jnp
import pytest

from flatness_jax.rundir import checkpoints as ckpt_lib


def _state(x):
  return {"w": jnp.full((4, 3), float(x)), "step": jnp.asarray(x, jnp.int32)}


def _abstract():
  return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), _state(0))


def test_keep_policy(tmp_path):
  c = ckpt_lib.Checkpointer(str(tmp_path), protected={0, 1, 2, 4}, keep_period=16, max_to_keep=2)
  for s in [0, 1, 2, 4, 8, 16, 24, 32, 40]:
    c.save(s, _state(s))
  # log-spaced (<8) kept, multiples of 16 kept, newest two kept; 8 and 24 deleted.
  assert c.all_steps() == [0, 1, 2, 4, 16, 32, 40] == ckpt_lib.complete_steps(str(tmp_path))
  step, st = c.restore(_abstract())
  assert step == 40 and float(st["w"][0, 0]) == 40.0
  c.close()


def _largest_file(d):
  files = [os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs]
  return max(files, key=os.path.getsize)


def test_corrupt_newest_falls_back_with_warning(tmp_path):
  c = ckpt_lib.Checkpointer(str(tmp_path))
  c.save(2, _state(2))
  c.save(4, _state(4))
  victim = _largest_file(str(tmp_path / "checkpoints" / "4"))
  with open(victim, "r+b") as f:
    f.truncate(max(os.path.getsize(victim) // 2, 1))
  c2 = ckpt_lib.Checkpointer(str(tmp_path))
  step, st = c2.restore(_abstract())
  assert step == 2 and float(st["w"][0, 0]) == 2.0
  assert os.path.isdir(tmp_path / "corrupt_4")


def test_all_corrupt_raises_clear_error(tmp_path):
  c = ckpt_lib.Checkpointer(str(tmp_path))
  c.save(2, _state(2))
  for r, _, fs in os.walk(tmp_path / "checkpoints" / "2"):
    for f in fs:
      open(os.path.join(r, f), "wb").write(b"garbage")
  c2 = ckpt_lib.Checkpointer(str(tmp_path))
  with pytest.raises(ckpt_lib.CheckpointError, match="no readable checkpoint"):
    c2.restore(_abstract())


def test_empty_directory_restores_nothing(tmp_path):
  c = ckpt_lib.Checkpointer(str(tmp_path))
  assert c.restore(_abstract()) == (None, None)
