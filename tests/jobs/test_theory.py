"""The theory_drift job: config validation naming the field, and the run directory it writes."""
import json
import os

import pytest

from experiments.configs import theory_drift
from flatness_jax import jobs
from flatness_jax.jobs import theory as job
from flatness_jax.theory import sweep


def test_default_config_is_the_default_sweep_and_is_registered():
  c = theory_drift.get_config()
  assert jobs.JOBS[c.job] == "theory:run_theory_drift"
  assert job.settings_from_config(c.theory) == sweep.Settings()


@pytest.mark.parametrize("field, value, match", [
    ("rank", 3, "theory.rank=3"),
    ("learning_rates", "0.1,x", "theory.learning_rates='0.1,x'"),
    ("learning_rates", "0.1,-0.1", "theory.learning_rates"),
    ("batch_sizes", "1,2.5", "theory.batch_sizes='1,2.5'"),
    ("num_seeds", 1, "theory.num_seeds=1"),
    ("imbalance", 1.0, "theory.imbalance=1.0"),
    ("horizon", 0.0, "theory.horizon=0.0"),
    ("num_records", 1, "theory.num_records=1"),
])
def test_bad_fields_are_named(field, value, match):
  c = theory_drift.get_config()
  c.theory[field] = value
  with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(".", r"\.")):
    job.settings_from_config(c.theory)


def test_unstable_learning_rate_is_refused(tmp_path):
  c = theory_drift.get_config()
  c.theory.learning_rates = "5.0"
  with pytest.raises(ValueError, match=r"theory\.learning_rates: η = 5\.0 is unstable"):
    job.run_theory_drift(c, str(tmp_path))


def test_job_writes_results_report_and_figure(tmp_path):
  c = theory_drift.get_config()
  c.theory.learning_rates, c.theory.batch_sizes = "0.1,0.05", "1"
  c.theory.horizon, c.theory.num_records = 0.5, 4
  job.run_theory_drift(c, str(tmp_path))
  result = json.load(open(tmp_path / job.RESULT))
  assert [cell["learning_rate"] for cell in result["cells"]] == [0.1, 0.05]
  assert len(result["cells"][0]["trace"]) == 16 and len(result["cells"][0]["trace"][0]) == 5
  text = open(tmp_path / job.REPORT).read()
  assert "| 0.05 | " in text and "η → 0 (fit a + bη)" in text and "dist/√η" in text
  assert os.path.getsize(tmp_path / job.FIGURE) > 10_000
  assert json.load(open(tmp_path / "config.json"))["theory"]["learning_rates"] == "0.1,0.05"
