"""Checkpoint keep policy, atomic save and fallback past a corrupt checkpoint (the schedule: tests/train/test_schedule.py)."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flatness_jax.rundir import checkpoints as ckpt_lib
from tests.conftest import run_python


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
  files = [os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs if f != "checksums.json"]
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
  with pytest.raises(ckpt_lib.CheckpointError, match="could be restored; moved aside: corrupt_2 .*from step 0"):
    c2.restore(_abstract())
  assert os.path.isdir(tmp_path / "corrupt_2")


def test_empty_directory_restores_nothing(tmp_path):
  c = ckpt_lib.Checkpointer(str(tmp_path))
  assert c.restore(_abstract()) == (None, None)


def _flip_bytes(path, offset_fraction=0.5):
  with open(path, "r+b") as f:
    data = bytearray(f.read())
    i = int(len(data) * offset_fraction)
    data[i:i + 4] = bytes(b ^ 0xFF for b in data[i:i + 4])
    f.seek(0)
    f.write(data)


def test_flipped_bytes_are_named_the_checkpoint_moved_aside_and_the_previous_used(tmp_path, caplog):
  c = ckpt_lib.Checkpointer(str(tmp_path))
  c.save(2, _state(2))
  c.save(4, _state(4))
  victim = _largest_file(str(tmp_path / "checkpoints" / "4"))
  _flip_bytes(victim)
  with pytest.raises(Exception, match=f"checkpoint 4 of {tmp_path} is corrupt: {victim} does not match"):
    ckpt_lib.restore_params(str(tmp_path), 4)  # a reader names it and moves nothing
  step, st = ckpt_lib.Checkpointer(str(tmp_path)).restore(_abstract())
  assert step == 2 and float(st["w"][0, 0]) == 2.0
  assert ckpt_lib.moved_aside(str(tmp_path)) == ["corrupt_4"]
  assert f"{victim} does not match its checksum" in caplog.text


def test_a_checkpoint_of_another_model_is_refused_and_left_in_place(tmp_path):
  c = ckpt_lib.Checkpointer(str(tmp_path))
  c.save(2, _state(2))
  other = {"w": jax.ShapeDtypeStruct((5, 3), jnp.float32), "step": jax.ShapeDtypeStruct((), jnp.int32)}
  with pytest.raises(ckpt_lib.CheckpointMismatchError, match=r"checkpoint 2 .*w is \(4, 3\) float32 there, \(5, 3\)"):
    ckpt_lib.Checkpointer(str(tmp_path)).restore(other)
  assert ckpt_lib.complete_steps(str(tmp_path)) == [2] and not ckpt_lib.moved_aside(str(tmp_path))


def test_a_non_finite_state_is_never_checkpointed(tmp_path):
  c = ckpt_lib.Checkpointer(str(tmp_path))
  bad = {"w": jnp.full((4, 3), jnp.inf), "step": jnp.asarray(3, jnp.int32)}
  with pytest.raises(ckpt_lib.NonFiniteStateError, match="state at step 3 has non-finite values in w"):
    c.save(3, bad)
  assert ckpt_lib.complete_steps(str(tmp_path)) == []


def test_a_checkpoint_without_checksums_is_restored_when_readable(tmp_path):
  c = ckpt_lib.Checkpointer(str(tmp_path))
  c.save(2, _state(2))
  os.remove(tmp_path / "checkpoints" / "2" / "checksums.json")  # killed between Orbax's rename and the checksums
  step, st = ckpt_lib.Checkpointer(str(tmp_path)).restore(_abstract())
  assert step == 2 and float(st["w"][0, 0]) == 2.0


def test_a_transient_checkpoint_goes_once_a_newer_one_exists(tmp_path):
  c = ckpt_lib.Checkpointer(str(tmp_path), max_to_keep=5)
  c.save(20, _state(20))
  c.save(30, _state(30), transient=True)  # a run stopped between scheduled checkpoints
  assert c.all_steps() == [20, 30]
  c.save(40, _state(40))
  assert c.all_steps() == [20, 40]


@pytest.mark.parametrize("host_save", [True, False])
def test_both_save_paths_write_the_same_tree_and_values(tmp_path, host_save):
  c = ckpt_lib.Checkpointer(str(tmp_path), host_save=host_save)
  state = {"w": jnp.arange(12.0).reshape(4, 3), "m": {"b": jnp.ones((5,), jnp.bfloat16)}, "step": jnp.asarray(7)}
  c.save(7, state)
  assert ckpt_lib.tree_difference(c.manager.item_metadata(7), state) == ""
  abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), state)
  step, restored = ckpt_lib.Checkpointer(str(tmp_path)).restore(abstract)
  assert step == 7
  for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
    assert isinstance(b, jax.Array) and b.dtype == a.dtype and b.sharding == a.sharding
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("host_save", [True, False])
def test_a_non_finite_leaf_is_named_on_either_save_path(tmp_path, host_save):
  c = ckpt_lib.Checkpointer(str(tmp_path), host_save=host_save)
  bad = {"a": {"w": jnp.ones((2,))}, "b": jnp.asarray([1.0, jnp.nan]), "step": jnp.asarray(3, jnp.int32)}
  with pytest.raises(ckpt_lib.NonFiniteStateError, match="state at step 3 has non-finite values in b"):
    c.save(3, bad)
  assert ckpt_lib.complete_steps(str(tmp_path)) == []


def test_a_state_sharded_over_four_devices_is_saved_and_restored_into_its_shardings(tmp_path):
  """One process, four simulated devices: the save copies the sharded state to the host (the default for one
  process), the restore places each leaf in the sharding asked for."""
  run_python(f"""
      import jax, jax.numpy as jnp, numpy as np
      from jax.sharding import NamedSharding, PartitionSpec as P
      from flatness_jax.rundir import checkpoints as ckpt_lib
      mesh = jax.make_mesh((4,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
      sharded, rep = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
      state = {{"w": jax.device_put(jnp.arange(32.0).reshape(8, 4), sharded),
                "step": jax.device_put(jnp.asarray(5), rep)}}
      c = ckpt_lib.Checkpointer({str(tmp_path)!r})
      assert c.host_save
      c.save(5, state)
      abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), state)
      step, restored = ckpt_lib.Checkpointer({str(tmp_path)!r}).restore(abstract)
      assert step == 5
      assert restored["w"].sharding == sharded and len(restored["w"].addressable_shards) == 4
      np.testing.assert_array_equal(np.asarray(restored["w"]), np.arange(32.0).reshape(8, 4))
      assert int(restored["step"]) == 5
      print("ok")
      """, devices=4)
