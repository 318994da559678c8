"""The pipeline re-measures a step only when what the config asks for is missing from the run's records."""
import json

from flatness_jax.jobs import pipeline


def test_measured_requires_every_step_and_the_requested_entry(tmp_path):
  wd = str(tmp_path)
  assert not pipeline._has_curvature(wd, [0]) and not pipeline._has_probes(wd, [0], False)
  json.dump({"tasks": {"A": {}}, "steps": {"0": {"A": {}}, "20": {"A": {}, "finetune": {"A": {}}}}},
            open(tmp_path / "probes.json", "w"))
  assert pipeline._has_probes(wd, [0, 20], False) and not pipeline._has_probes(wd, [0, 40], False)
  assert pipeline._has_probes(wd, [20], True) and not pipeline._has_probes(wd, [0, 20], True)
  json.dump({"steps": {"0": {"loss": 1.0}, "20": {"loss": 0.9}}}, open(tmp_path / "curvature.json", "w"))
  assert pipeline._has_curvature(wd, [0, 20]) and not pipeline._has_curvature(wd, [0, 40])
