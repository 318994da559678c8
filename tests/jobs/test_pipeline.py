"""The pipeline re-measures a step only when what the config asks for is missing from the run's records."""
import json

import pytest

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


def _plant_other_run(config, workdir: str, name: str) -> None:
  """A run directory for `name` under `workdir` recording the same run at another learning rate (no checkpoint)."""
  import os  # pylint: disable=g-import-not-at-top
  from flatness_jax.train import arms  # pylint: disable=g-import-not-at-top
  sub = arms.resolve_run_config(arms.run_configs(config)[name])
  sub.optimizer.learning_rate = 2 * sub.optimizer.learning_rate
  os.makedirs(os.path.join(workdir, name))
  json.dump(sub.to_dict(), open(os.path.join(workdir, name, "config.json"), "w"))


def test_a_run_directory_of_another_config_is_refused_before_any_run_trains(tmp_path):
  """The last run's directory trains another function: the pipeline says so in one line before it trains the
  first run (not after training every run before it)."""
  import os  # pylint: disable=g-import-not-at-top
  import pytest  # pylint: disable=g-import-not-at-top
  from experiments.configs import paper  # pylint: disable=g-import-not-at-top
  from flatness_jax.jobs import curvature as curvature_job  # pylint: disable=g-import-not-at-top
  from flatness_jax.train import arms, resume  # pylint: disable=g-import-not-at-top
  config = paper.get_config("tiny").cells.continued_pcfg.config
  config.stages = "train"
  names = list(arms.run_configs(config))
  recorded, _ = curvature_job.correlatable_measures(config)  # the config the pipeline records for these runs
  _plant_other_run(recorded, str(tmp_path), names[-1])
  with pytest.raises(resume.ResumeConflictError, match=r"optimizer\.learning_rate .*not resumed, nothing changed"):
    pipeline.run_quickstart(config, str(tmp_path))
  assert not os.path.exists(tmp_path / names[0])


def test_a_run_is_measured_once_trained_while_the_runs_beside_it_still_train(tmp_path, monkeypatch):
  """Runs at once (parallel.concurrent_runs = 2), one slow to train: the others' curvature and probes start before
  its training ends (no barrier between the stages), each after its own run's training and after the first run of
  its architecture; timings.json holds one stage per kind with its thread-seconds, sharing the block's wall."""
  import threading  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  from experiments.configs import quickstart  # pylint: disable=g-import-not-at-top
  config = quickstart.get_config("tiny,seeds=3")
  config.stages, config.parallel.concurrent_runs = "train,curvature,probes", 2
  log, guard, t0, measured = [], threading.Lock(), time.time(), set()

  def event(what, name):
    with guard:
      log.append((what, name, time.time() - t0))

  def train(runs, workdir, names, stop=None):
    del runs, workdir, stop
    event("train start", names[0])
    time.sleep(0.8 if names[0].endswith("seed_1") else 0.05)
    event("train end", names[0])
    return [{} for _ in names]

  def measure(kind):
    def job(config, run_dir, label=""):
      del config, run_dir
      event(f"{kind} start", label)
      time.sleep(0.05)
      event(f"{kind} end", label)
      measured.add((label, kind))
    return job
  monkeypatch.setattr(pipeline, "_train_group", train)
  monkeypatch.setattr(pipeline, "_unmeasured", lambda config, workdir, name, kind: (name, kind) not in measured)
  monkeypatch.setattr(pipeline.arms, "format_table", lambda summaries: "")
  for kind in ("curvature", "probes"):
    monkeypatch.setitem(pipeline._MEASURE_JOBS, kind, measure(kind))  # pylint: disable=protected-access
  pipeline.run_quickstart(config, str(tmp_path))
  at = {(what, name): t for what, name, t in log}
  assert len(at) == len(log)  # every run trained and measured once
  names = [f"cpu_tiny/seed_{k}" for k in range(3)]
  assert {(k, n) for k in ("train end", "curvature end", "probes end") for n in names} <= set(at)
  slow = at[("train end", names[1])]
  for name in (names[0], names[2]):
    for kind in ("curvature", "probes"):
      assert at[(f"{kind} start", name)] < slow  # measured while seed_1 still trains
      assert at[(f"{kind} start", name)] >= at[("train end", name)]
  for kind in ("curvature", "probes"):  # after the first run of the architecture, whose programs they reuse
    assert at[(f"{kind} start", names[2])] >= at[(f"{kind} end", names[0])]
  timings = json.load(open(tmp_path / pipeline.TIMINGS))
  stages = [s for s in timings if s.split(" ")[0] in ("train", "curvature", "probes")]
  assert sorted(stages) == [f"{kind} 3 runs, 2 at a time" for kind in ("curvature", "probes", "train")]
  assert all(timings[s]["busy"] > 0 for s in stages)
  from flatness_jax.parallel import machine  # pylint: disable=g-import-not-at-top
  assert json.load(open(tmp_path / pipeline.MACHINE)) == {"machines": [machine.identity()]}  # which machine ran it


def test_a_malformed_machine_file_is_one_line_naming_it(tmp_path):
  """machine.json that is not {"machines": [objects]} is named in one line, before anything is written over it."""
  path = tmp_path / pipeline.MACHINE
  for text in ('{"machines": 3}', '["AMD EPYC"]', '{"machines": ["AMD EPYC"]}'):
    path.write_text(text)
    with pytest.raises(ValueError, match=f"^{path} is not a list of machines"):
      pipeline.record_machine(str(tmp_path), {"processor": "x"})
    assert path.read_text() == text
  path.unlink()
  assert pipeline.recorded_machines(str(tmp_path)) == []
