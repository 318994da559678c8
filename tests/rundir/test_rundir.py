"""Run directories are read back from relative or absolute paths, with the parameters that were saved."""
import json
import os

import jax
import numpy as np
import pytest

from experiments.configs import tiny
from flatness_jax.rundir import layout, rundir
from tests.run_dirs import initial_run_dir


def test_run_dir_restores_saved_params_from_a_relative_path(tmp_path, monkeypatch):
  config = tiny.get_config()
  _, state = initial_run_dir(tmp_path / "r", config)
  monkeypatch.chdir(tmp_path)
  rd = rundir.RunDir("r")
  assert "language" not in vars(rd) and "model" not in vars(rd)  # built on first use only
  assert rd.steps() == [0] and os.path.isabs(rd.workdir)
  for a, b in zip(jax.tree.leaves(rd.params(0)), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_step_selection():
  steps = [0, 200, 400, 600]
  assert layout.select_steps(steps, "last") == [600]
  assert layout.select_steps(steps, "last:2") == [400, 600]
  assert layout.select_steps(steps, "all") == steps
  assert layout.select_steps(steps, "200, 600") == [200, 600]
  for bad, pattern in (("700", r"steps \[700\] are not checkpointed"), ("last:x", "positive integer"),
                       ("first", "expected 'last'")):
    with pytest.raises(ValueError, match=pattern):
      layout.select_steps(steps, bad, "runs/x")
  with pytest.raises(ValueError, match="runs/x has no checkpoints"):
    layout.select_steps([], "last", "runs/x")


def test_sibling_is_the_same_seed_of_another_arm(tmp_path):
  config = tiny.get_config()
  for arm_dir, extra in (("xs", {}), ("xs/seed_1", {"arm": "xs", "replicate": 1})):
    d = tmp_path / arm_dir
    d.mkdir(parents=True)
    json.dump({**config.to_dict(), **extra}, open(d / "config.json", "w"))
  assert rundir.RunDir(str(tmp_path / "xs")).sibling("m") == str(tmp_path / "m")
  seeded = rundir.RunDir(str(tmp_path / "xs/seed_1"))
  assert seeded.arm == "xs" and seeded.sibling("m") == str(tmp_path / "m" / "seed_1")
