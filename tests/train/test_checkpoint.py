"""Checkpoint schedule, keep policy, atomic save and fallback past a corrupt checkpoint."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flatness_jax.train import checkpoint as ckpt_lib


def test_log_spaced_schedule():
  assert ckpt_lib.log_spaced_steps(100, 350) == [0, 1, 2, 4, 8, 16, 32, 64, 100, 200, 300, 350]
  assert ckpt_lib.log_spaced_steps(4, 10) == [0, 1, 2, 4, 8, 10]


def _state(x):
  return {"w": jnp.full((4, 3), float(x)), "step": jnp.asarray(x, jnp.int32)}


def _abstract():
  return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), _state(0))


def test_keep_policy(tmp_path):
  c = ckpt_lib.Checkpointer(str(tmp_path / "ck"), every=8, num_steps=40, keep_period=16, max_to_keep=2)
  for s in [0, 1, 2, 4, 8, 16, 24, 32, 40]:
    assert c.should_save(s)
    c.save(s, _state(s))
  # log-spaced (<8) kept, multiples of 16 kept, newest two kept; 8 and 24 deleted.
  assert c.all_steps() == [0, 1, 2, 4, 16, 32, 40]
  step, st = c.restore(_abstract())
  assert step == 40 and float(st["w"][0, 0]) == 40.0
  c.close()


def _largest_file(d):
  files = [os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs]
  return max(files, key=os.path.getsize)


def test_corrupt_newest_falls_back_with_warning(tmp_path):
  c = ckpt_lib.Checkpointer(str(tmp_path / "ck"), every=2, num_steps=4)
  c.save(2, _state(2))
  c.save(4, _state(4))
  victim = _largest_file(str(tmp_path / "ck" / "4"))
  with open(victim, "r+b") as f:
    f.truncate(max(os.path.getsize(victim) // 2, 1))
  c2 = ckpt_lib.Checkpointer(str(tmp_path / "ck"), every=2, num_steps=4)
  step, st = c2.restore(_abstract())
  assert step == 2 and float(st["w"][0, 0]) == 2.0
  assert os.path.isdir(tmp_path / "corrupt_4")


def test_all_corrupt_raises_clear_error(tmp_path):
  c = ckpt_lib.Checkpointer(str(tmp_path / "ck"), every=2, num_steps=2)
  c.save(2, _state(2))
  for r, _, fs in os.walk(tmp_path / "ck" / "2"):
    for f in fs:
      open(os.path.join(r, f), "wb").write(b"garbage")
  c2 = ckpt_lib.Checkpointer(str(tmp_path / "ck"), every=2, num_steps=2)
  with pytest.raises(ckpt_lib.CheckpointError, match="no readable checkpoint"):
    c2.restore(_abstract())


def test_empty_directory_restores_nothing(tmp_path):
  c = ckpt_lib.Checkpointer(str(tmp_path / "ck"), every=2, num_steps=2)
  assert c.restore(_abstract()) == (None, None)
