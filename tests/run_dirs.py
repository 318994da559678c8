"""Test helper: run directories made without training (a config.json and checkpoint 0 of fresh parameters)."""
import json
import os

from flatness_jax.rundir import checkpoints
from flatness_jax.train import trainer as trainer_lib


def initial_run_dir(path, config):
  """(workdir, state): `path` as a run directory of `config` holding its initial state as checkpoint 0."""
  path = str(path)
  os.makedirs(path, exist_ok=True)
  state = trainer_lib.Trainer(config, path).fresh_state()
  checkpointer = checkpoints.Checkpointer(path)
  checkpointer.save(0, state)
  checkpointer.close()
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(config.to_dict(), f)
  return path, state
