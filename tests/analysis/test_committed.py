"""Did this machine reproduce the committed record (flatness_jax.analysis.committed): equal records match, a changed
number or configuration is named, an absent record is said to be absent."""
import dataclasses
import json
import os

import numpy as np
import pytest

from experiments.configs import model_size
from flatness_jax.analysis import committed
from flatness_jax.rundir import compact, records
from tests.analysis import simulate


@pytest.fixture(scope="module")
def runs():
  d = simulate.design(model_size.get_config("seeds=2"))
  return simulate.runs(d, simulate.World(), np.random.default_rng(3))


def _commit(runs, cell_dir):
  os.makedirs(os.path.join(cell_dir, "runs"))
  for r in runs:
    compact.write(r, os.path.join(cell_dir, "runs", compact.file_name(r.name)))
  with open(os.path.join(cell_dir, "cell.json"), "w") as f:
    json.dump({"runs": [r.name for r in runs], "command": "configs/model_size.py", "commit": "abc"}, f)
  return str(cell_dir)


def test_equal_records_match(runs, tmp_path):
  text = "\n".join(committed.section(runs, _commit(runs, tmp_path / "cell")))
  assert "**matches the committed record**" in text and "seed_0" in text


def test_a_changed_number_is_named(runs, tmp_path):
  cell = _commit(runs, tmp_path / "cell")
  run = runs[0]
  step = run.measured_steps()[-1]
  changed = dict(run.evaluations)
  changed[step] = dataclasses.replace(changed[step], gap_relative=changed[step].gap_relative * 1.01)
  text = "\n".join(committed.section([dataclasses.replace(run, evaluations=changed)] + runs[1:], cell))
  assert "**differs from the committed record** (1 difference(s))" in text
  assert f"- {run.name} step {step} gap_relative:" in text
  assert "matches" not in text


def test_a_tiny_rounding_difference_still_matches(runs, tmp_path):
  cell = _commit(runs, tmp_path / "cell")
  run = runs[0]
  s = run.measured_steps()[-1]
  curv = dict(run.curvature)
  est = curv[s].hessian[records.HUTCHINSON]
  curv[s] = dataclasses.replace(curv[s], hessian={records.HUTCHINSON: dataclasses.replace(est, value=est.value *
                                                                                         (1 + 1e-7))})
  assert "**matches" in "\n".join(committed.section([dataclasses.replace(run, curvature=curv)] + runs[1:], cell))


def test_another_configuration_is_not_a_reproduction(runs, tmp_path):
  cell = _commit(runs, tmp_path / "cell")
  config = json.loads(json.dumps(runs[0].config))
  config["train"]["num_steps"] += 1
  config["name"] = "renamed"  # bookkeeping: ignored
  text = "\n".join(committed.section([dataclasses.replace(runs[0], config=config)], cell))
  assert "made with another configuration: train.num_steps" in text and "name (" not in text


def test_no_committed_record_is_said(runs, tmp_path):
  text = "\n".join(committed.section(runs, str(tmp_path / "nowhere")))
  assert "No committed record of this configuration here" in text


def test_how_fast_a_run_was_made_is_not_a_different_configuration(runs, tmp_path):
  """Fields that say only where or how fast the same function trained (resume.RECORD_ONLY: parallel.*, evaluation
  batch, checkpoints kept) do not make a run another configuration: a record made before a field existed matches."""
  cell = _commit(runs, tmp_path / "cell")
  config = json.loads(json.dumps(runs[0].config))
  config.setdefault("parallel", {})["concurrent_runs"] = 2  # absent or 1 in the committed record
  config.setdefault("checkpoint", {})["max_to_keep"] = 99
  text = "\n".join(committed.section([dataclasses.replace(runs[0], config=config)] + runs[1:], cell))
  assert "**matches the committed record**" in text, text


def _differing(runs):
  run = runs[0]
  step = run.measured_steps()[-1]
  changed = dict(run.evaluations)
  changed[step] = dataclasses.replace(changed[step], gap_relative=changed[step].gap_relative * 1.01)
  return [dataclasses.replace(run, evaluations=changed)] + runs[1:]


def test_differences_name_both_machines_when_the_record_was_made_on_another():
  """Bits differ across processors and JAX builds: the section says so, naming both, instead of leaving the
  differences to be read as a change of the code; on the same machine it says the same bits were expected."""
  here = {"processor": "AMD EPYC", "cores": 2, "backend": "cpu", "jax": "0.10.2", "jaxlib": "0.10.2"}
  there = {**here, "processor": "Intel(R) Xeon(R) Platinum 8488C", "reference_ms": 231.0}
  lines = committed.machine_lines([there], here)
  text = "\n".join(lines)
  assert "made on Intel(R) Xeon(R) Platinum 8488C (2 cores, jax 0.10.2), reference 231 ms" in text
  assert "this machine is AMD EPYC (2 cores, jax 0.10.2)" in text and "expected to differ" in text
  same = "\n".join(committed.machine_lines([{**here, "reference_ms": 150.0}], here))
  assert "the same bits were expected" in same and "expected to differ" not in same
  assert "does not name its machine" in "\n".join(committed.machine_lines(None, here))


def test_a_record_that_differs_ends_with_the_machines(runs, tmp_path):
  cell = _commit(runs, tmp_path / "cell")
  here = {"processor": "AMD EPYC", "cores": 2, "backend": "cpu", "jax": "0.10.2", "jaxlib": "0.10.2"}
  text = "\n".join(committed.section(_differing(runs), cell, here))
  assert "**differs" in text and text.endswith("\n".join(committed.machine_lines(None, here)))
  assert "machine" not in "\n".join(committed.section(runs, cell, here))  # a match needs no word on machines
