"""The compact record (flatness_jax.rundir.compact): exact round trip of every field a report reads, the same
report from compact records as from the records themselves, nothing a report does not read, and bad files named."""
import dataclasses
import json

import numpy as np
import pytest

from experiments.configs import algorithms
from flatness_jax.analysis import report_markdown
from flatness_jax.rundir import compact, pair_losses, records
from tests.analysis import simulate


def _with_pairs(run, rng, extra_step=7):
  """`run` with per-pair held-out losses at its measured steps and at one unmeasured step."""
  steps = np.asarray(sorted(set(run.measured_steps()) | {extra_step}), np.int64)
  optimal = rng.uniform(1.0, 2.0, 64)
  losses = (optimal + rng.uniform(0.0, 0.1, (len(steps), 64))).astype(np.float32)
  return dataclasses.replace(run, pairs=pair_losses.PairLosses(steps, losses, optimal, "d" * 24))


@pytest.fixture(scope="module")
def runs():
  rng = np.random.default_rng(0)
  d = simulate.design(algorithms.get_config("adversarial,seeds=2"))
  return [_with_pairs(r, rng) for r in simulate.runs(d, simulate.World(), rng)]


def test_round_trip_is_exact_and_drops_only_unmeasured_pair_losses(runs, tmp_path):
  run = dataclasses.replace(runs[0], workdir="/somewhere/else/" + runs[0].name,
                            problems=(f"/somewhere/else/{runs[0].name}/metrics.jsonl line 3 is damaged",))
  back = compact.read(compact.write(run, str(tmp_path / "r.json")))
  assert back.evaluations == run.evaluations and back.curvature == run.curvature and back.probes == run.probes
  assert back.config == run.config and back.summary == run.summary and back.name == run.name
  assert back.workdir == run.name and "/somewhere" not in open(tmp_path / "r.json").read()
  assert back.problems == (f"{run.name}/metrics.jsonl line 3 is damaged",)
  assert list(back.pairs.steps) == run.measured_steps() and 7 not in back.pairs.steps
  for s in run.measured_steps():
    np.testing.assert_array_equal(back.pairs.at(s), run.pairs.at(s))
  np.testing.assert_array_equal(back.pairs.optimal, run.pairs.optimal)
  assert back.pairs.losses.dtype == np.float32 and back.pairs.digest == run.pairs.digest


def test_report_from_compact_records_equals_the_report_from_the_records(runs, tmp_path):
  settings = report_markdown.Settings(num_boot=100)
  back = [compact.read(compact.write(r, str(tmp_path / compact.file_name(r.name)))) for r in runs]
  a, b = report_markdown.build(runs, settings, figures=False), report_markdown.build(back, settings, figures=False)
  assert a.text == b.text and a.findings.to_json() == b.findings.to_json()


def test_new_record_fields_travel_and_equal_records_are_equal_bytes(runs):
  c = records.Curvature(step=3, measures={"sam_sharpness": records.Estimate(1.5, 0.1, dof=9.0, cost=10)},
                        probe_loss={"A": float("inf")}, embedded_into="m")
  back = compact.decode(json.loads(json.dumps(compact.encode(c), allow_nan=False)))
  assert back == c and isinstance(back.measures["sam_sharpness"].ci95, tuple)
  assert compact.dumps(runs[1]) == compact.dumps(compact.decode(compact.encode(runs[1])))


@pytest.mark.parametrize("text, why", [("{", "not JSON"), ('{"format": "other"}', "not a compact run record"),
                                       ('{"format": "%s", "run": {"@": "Nope"}}' % compact.FORMAT, "not a readable")])
def test_a_file_that_is_not_a_compact_record_is_named(tmp_path, text, why):
  path = tmp_path / "bad.json"
  path.write_text(text)
  with pytest.raises(ValueError, match=why) as e:
    compact.read(str(path))
  assert str(path) in str(e.value)
