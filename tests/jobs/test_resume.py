"""Resume is a contract: a run directory continues only with the config that made it (or an extension that keeps
its learning-rate schedule); corrupt checkpoints are moved aside, never deleted, and the previous good one is used;
a run never starts again from step 0 over its own record; foreign directories are not touched."""
import json
import os
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from experiments.configs import tiny
from flatness_jax.jobs import train as train_job
from flatness_jax.rundir import checkpoints, layout, lock


@pytest.fixture
def finished(finished_tiny_run):
  """The session's finished tiny run (tests/jobs/conftest.py): copy it before changing anything."""
  return finished_tiny_run


def _moved(workdir):
  return sorted(n for n in os.listdir(workdir) if n.startswith("corrupt_"))


def _copy(src, tmp_path, name="run"):
  dst = str(tmp_path / name)
  shutil.copytree(src, dst, symlinks=True)
  return dst


def _snapshot(workdir):
  """{relative path: bytes} of every file (the lock file aside)."""
  out = {}
  for root, _, files in os.walk(workdir):
    for f in files:
      if f != lock.LOCK_NAME:
        out[os.path.relpath(os.path.join(root, f), workdir)] = open(os.path.join(root, f), "rb").read()
  return out


def _config(**overrides):
  c = tiny.get_config()
  for dotted, value in overrides.items():
    section, field = dotted.split(".") if "." in dotted else (None, dotted)
    if section:
      c[section][field] = value
    else:
      c[field] = value
  return c


@pytest.mark.parametrize("overrides,field", [
    ({"optimizer.name": "sgd"}, "optimizer.name"),
    ({"model.num_layers": 2}, "model.num_layers"),
    ({"optimizer.learning_rate": 0.01}, "optimizer.learning_rate"),
    ({"train.batch_size": 16}, "train.batch_size"),
    ({"seed": 3}, "seed"),
    ({"data.seed": 1}, "data.seed"),
    ({"train.num_steps": 60}, "train.num_steps"),
])
def test_a_changed_config_is_refused_in_one_line_and_nothing_changes(finished, tmp_path, overrides, field):
  wd = _copy(finished, tmp_path)
  before = _snapshot(wd)
  with pytest.raises(ValueError) as info:
    train_job.train_and_evaluate(_config(**overrides), wd)
  message = str(info.value)
  assert f"({field} " in message and "not resumed, nothing changed" in message and "\n" not in message, message
  if field == "train.num_steps":
    assert "--config.optimizer.schedule_steps=40" in message
  assert len(message) - len(wd) <= 200, message
  assert _snapshot(wd) == before


def test_fields_that_only_say_where_and_how_fast_may_change(finished, tmp_path):
  wd = _copy(finished, tmp_path)
  before = _snapshot(wd)
  c = _config(name="renamed")
  c.eval.batch_size, c.checkpoint.max_to_keep = 64, 5
  assert train_job.train_and_evaluate(c, wd)["steps"] == 40  # finished: its summary, nothing written
  assert _snapshot(wd) == before


EXTEND = {"train.num_steps": 60, "optimizer.schedule_steps": 40}


@pytest.fixture(scope="module")
def extended(finished_tiny_run, tmp_path_factory):
  """The finished run extended to 60 steps with its schedule kept (trained once for the module)."""
  wd = _copy(finished_tiny_run, tmp_path_factory.mktemp("extended"))
  train_job.train_and_evaluate(_config(**EXTEND), wd)
  return wd


def test_an_extension_keeps_the_learning_rate_schedule(extended):
  assert checkpoints.complete_steps(extended)[-1] == 60
  rows = [json.loads(l) for l in open(os.path.join(extended, layout.METRICS))]
  lr = {r["step"]: r["lr"] for r in rows if "lr" in r}
  assert lr[50] == lr[60] <= lr[40]  # after the schedule's end the rate stays at its final value: no jump
  recorded = json.load(open(os.path.join(extended, layout.CONFIG)))
  assert (recorded["train"]["num_steps"], recorded["optimizer"]["schedule_steps"]) == (60, 40)
  assert [r["step"] for r in rows] == sorted({r["step"] for r in rows})  # every step once
  assert json.load(open(os.path.join(extended, layout.SUMMARY)))["steps"] == 60


def _rewrite(workdir, step, fn):
  """Replaces checkpoint `step`'s state by fn(state), written by Orbax itself: valid files, other bytes."""
  path = os.path.join(workdir, "checkpoints", str(step), "default")
  state = jax.tree.map(np.asarray, ocp.StandardCheckpointer().restore(path))
  ckpt = ocp.StandardCheckpointer()
  ckpt.save(path, fn(state), force=True)
  ckpt.wait_until_finished()


def _corrupt_optimizer_state(state):
  state["opt_state"][1][0]["nu"] = jax.tree.map(lambda x: -np.abs(x) - 1, state["opt_state"][1][0]["nu"])
  return state


def _corrupt_params(state):
  state["params"] = jax.tree.map(lambda x: x + 1, state["params"])
  return state


@pytest.mark.parametrize("corrupt", [_corrupt_optimizer_state, _corrupt_params], ids=["optimizer_state", "params"])
def test_corrupt_bytes_are_named_moved_aside_and_the_previous_checkpoint_is_used(finished, extended, tmp_path,
                                                                                corrupt, caplog):
  wd = _copy(finished, tmp_path)
  _rewrite(wd, 40, corrupt)
  pairs = os.path.join(wd, "heldout_losses.npz")
  data = open(pairs, "rb").read()
  with open(pairs, "wb") as f:  # truncated too: moved aside, not a failure of every rerun
    f.write(data[:100])
  earlier = os.path.join(wd, "corrupt_40")  # one moved aside before: never overwritten
  os.makedirs(earlier)
  open(os.path.join(earlier, "earlier"), "w").write("kept")
  train_job.train_and_evaluate(_config(**EXTEND), wd)
  assert _moved(wd) == ["corrupt_40", "corrupt_40.1"]
  assert open(os.path.join(earlier, "earlier")).read() == "kept"
  why = open(os.path.join(wd, "corrupt_40.1", "MOVED_ASIDE.txt")).read()
  assert "checkpoints/40/default/" in why and ("does not match its checksum" in why or "is missing" in why), why
  assert any("corrupt_40.1" in r.getMessage() for r in caplog.records)
  assert open(os.path.join(wd, "heldout_losses.corrupt_0.npz"), "rb").read() == data[:100]
  assert any("heldout_losses.npz is corrupt" in r.getMessage() for r in caplog.records)
  a, b = (ocp.StandardCheckpointer().restore(os.path.join(d, "checkpoints", "60", "default")) for d in (extended, wd))
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):  # resumed from 20: the same run as the clean one
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_no_restorable_checkpoint_stops_and_never_restarts_from_step_zero(finished, tmp_path):
  wd = _copy(finished, tmp_path)
  os.remove(os.path.join(wd, layout.SUMMARY))
  for step in checkpoints.complete_steps(wd):
    for root, _, files in os.walk(os.path.join(wd, "checkpoints", str(step))):
      for f in files:
        if f != "checksums.json":
          with open(os.path.join(root, f), "r+b") as fh:
            fh.truncate(max(os.path.getsize(os.path.join(root, f)) // 2, 1))
  metrics = open(os.path.join(wd, layout.METRICS), "rb").read()
  with pytest.raises(checkpoints.CheckpointError, match="could be restored; moved aside: corrupt_40, .*corrupt_0"):
    train_job.train_and_evaluate(_config(), wd)
  with pytest.raises(checkpoints.CheckpointError, match=r"has training records \(metrics up to step 40, .*not "
                                                        "starting again from step 0"):
    train_job.train_and_evaluate(_config(), wd)
  assert open(os.path.join(wd, layout.METRICS), "rb").read() == metrics
  assert len(_moved(wd)) == 8 and not checkpoints.complete_steps(wd)


@pytest.mark.parametrize("contents", [{"config.json": '{"model_type": "opt"}'}, {"notes.txt": "mine"}],
                         ids=["another_tools_config", "foreign_files"])
def test_a_directory_that_is_not_a_run_is_not_touched(tmp_path, contents):
  wd = tmp_path / "theirs"
  wd.mkdir()
  for name, text in contents.items():
    (wd / name).write_text(text)
  with pytest.raises(ValueError, match="not a run directory"):
    train_job.train_and_evaluate(_config(), str(wd))
  assert sorted(os.listdir(wd)) == sorted(contents)  # no lock file, no record
