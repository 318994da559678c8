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


def test_vmap_seeds_groups_the_seeds_of_each_arm_in_training_order():
  from experiments.configs import paper  # pylint: disable=g-import-not-at-top
  from flatness_jax.train import arms  # pylint: disable=g-import-not-at-top
  gpu = paper.get_config("gpu").cells.algorithms_pcfg.config
  groups = pipeline._training_groups(arms.run_configs(gpu))  # pylint: disable=protected-access
  assert groups[0] == [f"adamw/seed_{k}" for k in range(5)] and len(groups) == 4
  assert [g[0].split("/")[0] for g in groups] == ["adamw", "sgd", "sam", "adversarial"]
  cpu = paper.get_config("cpu").cells.algorithms_pcfg.config
  assert all(len(g) == 1 for g in pipeline._training_groups(arms.run_configs(cpu)))  # pylint: disable=protected-access
