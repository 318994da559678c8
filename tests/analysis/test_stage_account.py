"""The per-stage account: timings.json split into stages with compilation apart, the stated cost model's scaling,
and the plan table's totals."""
import dataclasses

import pytest

from flatness_jax.analysis import stage_account

TIMINGS = {"train adamw/seed_0": {"wall": 100.0, "compile": 30.0, "trace": 10.0, "cache_hits": 2},
           "train sgd/seed_0": {"wall": 50.0, "compile": 0.0, "trace": 0.0},
           "curvature adamw/seed_0": {"wall": 80.0, "compile": 50.0, "trace": 5.0},
           "probes adamw/seed_0": {"wall": 9.0, "compile": 1.0, "trace": 1.0},
           "report": {"wall": 2.0, "compile": 0.0, "trace": 0.0}}


def test_account_takes_compilation_out_of_each_stage_and_loses_no_second():
  a = stage_account.account(TIMINGS)
  assert a == {"training": 110.0, "compilation": 97.0, "curvature": 25.0, "probes": 7.0, "report": 2.0}
  assert sum(a.values()) == pytest.approx(sum(t["wall"] for t in TIMINGS.values()))


def test_stages_run_at_once_count_their_compilation_as_its_share_of_their_wall():
  """A stage run on threads beside others (flatness_jax.jobs.timing.StageTimes.overlapped) has `busy`
  thread-seconds; its compile and trace seconds are thread-seconds too, so they count as that fraction of its wall:
  the account of the stage still sums to its wall (threads compiling at once do not count twice)."""
  timings = {"train 2 runs, 2 at a time": {"wall": 60.0, "busy": 120.0, "compile": 20.0, "trace": 4.0},
             "curvature 2 runs, 2 at a time": {"wall": 30.0, "busy": 60.0, "compile": 36.0, "trace": 12.0},
             "report": {"wall": 1.0, "compile": 0.0, "trace": 0.0}}
  a = stage_account.account(timings)
  assert a == pytest.approx({"training": 48.0, "compilation": 36.0, "curvature": 6.0, "probes": 0.0, "report": 1.0})
  assert sum(a.values()) == pytest.approx(91.0)


SHAPE = stage_account.RunShape(params=100_000, length=16, steps=1000, batch=256, algorithm="standard",
                               curvature_steps=2, matvecs=40, curvature_pairs=512, fisher_examples=512, probe_steps=2,
                               probe_examples=2000, probe_seeds=5, probe_tasks=3, arm="a")


def test_cost_model_scales_with_steps_and_algorithm_and_compiles_once_per_arm():
  one = stage_account.estimate([SHAPE])
  assert one["training"] == pytest.approx(1000 * 256 * 16 * 6 * 100_000 / stage_account.RATE)
  double = stage_account.estimate([dataclasses.replace(SHAPE, steps=2000)])
  assert double["training"] == pytest.approx(2 * one["training"]) and double["curvature"] == one["curvature"]
  sam = stage_account.estimate([dataclasses.replace(SHAPE, algorithm="sam")])
  assert sam["training"] == pytest.approx(2 * one["training"])
  seeds = stage_account.estimate([SHAPE, SHAPE])  # two seeds of one arm: one compilation
  assert seeds["compilation"] == one["compilation"] and seeds["training"] == pytest.approx(2 * one["training"])
  assert stage_account.estimate([])["report"] == 0.0


def test_table_sums_rows_into_a_total():
  rows = [("continued", "pcfg", 2, {"training": 60.0, "report": 6.0}, "measured"),
          ("model_size", "hmm", 6, {"training": 120.0, "curvature": 54.0}, "cost model")]
  lines = stage_account.table(rows)
  assert lines[2] == "| continued | pcfg | 2 | 1.0 | 0.0 | 0.0 | 0.0 | 0.1 | 1.1 | 1.1 | 1.00× | measured |"
  assert lines[-1] == "| **total** | | 8 | 3.0 | 0.0 | 0.9 | 0.0 | 0.1 | **4.0** | 4.0 | 1.00× | |"


def test_a_re_measured_row_shows_its_first_measurement_as_before_and_the_total_compares_the_tier():
  """before = a row's first measurement (a row with none is its own before); the total row sums both sides."""
  rows = [("continued", "pcfg", 3, {"training": 60.0, "curvature": 30.0}, "measured", True,
           {"training": 150.0, "curvature": 30.0}),
          ("model_size", "hmm", 9, {"training": 120.0}, "measured"),
          ("algorithms", "hmm", 12, {"training": 600.0}, "stale", False, {"training": 6000.0})]
  lines = stage_account.table(rows)
  assert lines[0].endswith("| total min | before min | × before | source |")
  assert lines[2] == "| continued | pcfg | 3 | 1.0 | 0.0 | 0.5 | 0.0 | 0.0 | 1.5 | 3.0 | 0.50× | measured |"
  assert lines[3].endswith("| 2.0 | 2.0 | 1.00× | measured |")
  assert lines[4].endswith("| 10.0 | 100.0 | 0.10× | stale (not counted) |")
  assert lines[-1] == "| **total** | | 12 | 3.0 | 0.0 | 0.5 | 0.0 | 0.0 | **3.5** | 5.0 | 0.70× | |"


def test_a_superseded_row_is_shown_but_not_counted_in_the_total():
  rows = [("algorithms", "hmm", 12, {"training": 60.0}, "measured", False),
          ("algorithms", "hmm", 0, {"training": 120.0}, "not run", True)]
  lines = stage_account.table(rows)
  assert lines[2].startswith("| algorithms | hmm | 12 | 1.0 |") and lines[2].endswith("| measured (not counted) |")
  assert lines[-1] == "| **total** | | 0 | 2.0 | 0.0 | 0.0 | 0.0 | 0.0 | **2.0** | 2.0 | 1.00× | |"


def test_calibration_is_measured_over_modelled_per_stage_and_scales_the_estimates():
  pairs = [({"training": 30.0, "compilation": 10.0, "curvature": 0.0}, {"training": 20.0, "compilation": 5.0}),
           ({"training": 60.0, "compilation": 5.0}, {"training": 40.0, "compilation": 10.0})]
  factors = stage_account.calibration(pairs)
  assert factors["training"] == pytest.approx(90.0 / 60.0) and factors["compilation"] == pytest.approx(1.0)
  assert factors["curvature"] == 1.0 and factors["report"] == 1.0  # no measured cell models these: left as modelled
  scaled = stage_account.calibrated({"training": 10.0, "compilation": 4.0, "curvature": 7.0}, factors)
  assert scaled == {"training": pytest.approx(15.0), "compilation": pytest.approx(4.0), "curvature": 7.0,
                    "probes": 0.0, "report": 0.0}
  assert stage_account.calibration([]) == dict.fromkeys(stage_account.STAGES, 1.0)
