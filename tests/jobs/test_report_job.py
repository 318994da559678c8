"""The report job: report.md and findings.json from run directories, the family from the config or the runs' records,
bad settings refused in one line before any record is read."""
import json
import os

import numpy as np
import pytest

from experiments.configs import model_size, report as report_config
from flatness_jax.analysis import report_markdown, rows
from flatness_jax.jobs import report as report_job
from flatness_jax.rundir import jsonio, layout, lock, reader
from tests.analysis import test_report as fixtures


def _runs(root, claims=None):
  dirs = (fixtures._seeded(root, "small", 1000, 0.60, 0.04, 5.0, independent=True)
          + fixtures._seeded(root, "big", 4000, 0.70, 0.05, 3.5, independent=True))
  if claims is not None:
    for d in dirs:
      path = os.path.join(d, "config.json")
      config = json.load(open(path))
      config.update(name="model_size", report={"claims": claims, "equal_loss_margin": 0.01})
      json.dump(config, open(path, "w"))
  return dirs


def test_findings_json_holds_every_row_and_reads_back_equal(tmp_path):
  dirs = _runs(str(tmp_path / "runs"), claims="size")
  out = str(tmp_path / "out")
  path = report_job.write_report(dirs, out, report_config.get_config())
  found = rows.read(os.path.join(out, rows.FILE))
  # The runs' recorded family and margin, since the report config leaves them unset.
  assert found.claims == ("size",) and found.margin == 0.01 and found.size == 1
  assert "declared by the experiment config (model_size)" in open(path).read()
  (size,) = found.confirmatory
  assert (size.claim, size.task, size.verdict, size.n) == ("size", "A", "reproduced", "3 vs 3 seeds")
  assert size.low > 0 and 0.95 <= size.level and size.correction == "Holm over 1 rows at 0.05"
  assert all(not r.verdict for r in found.rows if not r.confirmatory)
  built = report_markdown.build([reader.read_run(d) for d in dirs],
                                report_markdown.Settings.of(report_config.get_config().report))
  canonical = lambda f: json.dumps(jsonio.jsonable(f.to_json()), sort_keys=True)  # pylint: disable=unnecessary-lambda-assignment
  assert canonical(found) == canonical(built.findings)  # every field of every row, nan included
  # An explicit report config wins over the records: no family, every row exploratory.
  config = report_config.get_config()
  config.report.claims = ""
  report_job.write_report(dirs, out, config)
  assert rows.read(os.path.join(out, rows.FILE)).confirmatory == []


def test_the_pipeline_config_declares_its_family(tmp_path):
  dirs = _runs(str(tmp_path / "runs"))
  out = str(tmp_path / "out")
  text = open(report_job.write_report(dirs, out, model_size.get_config())).read()
  assert "claims size, flatter, flatness_beyond_size, downstream_flatness, declared by the config 'model_size'" in text
  assert rows.read(os.path.join(out, rows.FILE)).size == 4


@pytest.mark.parametrize("field,value,message", [
    ("claims", "size,sise", r"report.claims: unknown claim\(s\) \['sise'\]"),
    ("equal_loss_margin", 0.0, r"report.equal_loss_margin=0.0 must be a fraction of L\* in \(0, 1\)"),
    ("saturated_gap", 3.0, r"report.saturated_gap=3.0 must be a fraction"),
])
def test_bad_settings_are_refused_before_any_record_is_read(tmp_path, field, value, message):
  config = report_config.get_config()
  config.report[field] = value
  with pytest.raises(ValueError, match=message):
    report_job.write_report([str(tmp_path / "no_such_run")], str(tmp_path), config)


def test_a_file_that_is_not_findings_json_is_named(tmp_path):
  path = tmp_path / rows.FILE
  path.write_text(json.dumps({"version": 0, "rows": []}))
  with pytest.raises(ValueError, match=f"{path} is not a findings.json of this version"):
    rows.read(str(path))
  assert np.isnan(rows.Row.from_json({"claim": "x", "title": "t", "language": "l", "confirmatory": False,
                                      "estimate": "nan", "low": 0, "high": 1, "level": 0.95, "unit": "pts",
                                      "n": "", "runs": 0}).estimate)


def test_the_report_job_refuses_to_write_into_a_run_another_process_writes(tmp_path):
  from tests.rundir.test_lock import _holder  # pylint: disable=g-import-not-at-top
  dirs = _runs(str(tmp_path / "runs"))
  proc = _holder(dirs[0])  # a training run holds its directory: the report may not write report.md into it
  try:
    with pytest.raises(lock.RunDirBusyError, match=rf"{dirs[0]} is in use by another writer \(pid {proc.pid} "):
      report_job.write_report(dirs, dirs[0])
  finally:
    proc.kill()
    proc.wait()
  assert not os.path.exists(os.path.join(dirs[0], report_job.REPORT))
  assert not os.path.exists(os.path.join(dirs[0], rows.FILE))


def test_the_report_marks_runs_in_progress_incomplete_or_damaged_instead_of_printing_zeros(tmp_path):
  from tests.rundir.test_lock import _holder  # pylint: disable=g-import-not-at-top
  dirs = _runs(str(tmp_path / "runs"))
  os.remove(os.path.join(dirs[1], layout.SUMMARY))  # no summary.json and no checkpoint: its size is unknown
  with open(os.path.join(dirs[2], layout.METRICS), "ab") as f:
    f.write(b'{"step": 700, "ga')  # a torn last line
  proc = _holder(dirs[3])
  try:
    text = open(report_job.write_report(dirs, str(tmp_path / "out"))).read()
  finally:
    proc.kill()
    proc.wait()
  status = text[text.index("## Runs not final or incomplete"):text.index("## Findings")]
  lines = [l for l in status.splitlines() if l.startswith("- ")]
  assert lines == [f"- small/seed_1: no {layout.SUMMARY}",
                   f"- small/seed_2: could not read: {layout.METRICS} line 4 is a torn last line: 17 bytes that are "
                   "not a JSON row",
                   f"- big/seed_0: in progress: pid {proc.pid} on {os.uname().nodename} is writing it, so its "
                   "records may still change"], status
  rows_of_seed_1 = [l for l in text.splitlines() if l.startswith("| small/seed_1 |")]
  assert rows_of_seed_1 and all(l.split(" | ")[2] == "–" for l in rows_of_seed_1), rows_of_seed_1  # not "0"
  clean = open(report_job.write_report(_runs(str(tmp_path / "clean")), str(tmp_path / "out2"))).read()
  assert "## Runs not final or incomplete" not in clean


def test_a_report_with_no_run_directories_writes_nothing(tmp_path):
  nowhere = tmp_path / "nowhere"
  with pytest.raises(ValueError, match="no run directories given to the report"):
    report_job.run_report(report_config.get_config(), str(nowhere))
  assert not nowhere.exists()
