"""The pipeline re-measures a step only when what the config asks for is missing from the run's json."""
import json

from flatness_jax import pipeline


def test_measured_requires_every_step_and_the_requested_entry(tmp_path):
  path = str(tmp_path / "probes.json")
  assert not pipeline._measured(path, [0])
  json.dump({"steps": {"0": {"A": {}}, "20": {"A": {}, "finetune": {"A": {}}}}}, open(path, "w"))
  assert pipeline._measured(path, [0, 20]) and not pipeline._measured(path, [0, 40])
  assert pipeline._measured(path, [20], "finetune") and not pipeline._measured(path, [0, 20], "finetune")
