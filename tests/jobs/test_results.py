"""results/ rebuilds byte for byte from its committed records (the contract of configs/report.py:results), and a
damaged record is named."""
import filecmp
import os
import shutil
import subprocess

import pytest

from flatness_jax.jobs import results as results_job
from tests.conftest import REPO_ROOT

RESULTS = os.path.join(REPO_ROOT, "results")
INPUTS = (results_job.PLAN, results_job.CELL)  # with runs/*.json: what the rebuild reads; everything else it writes


def _inputs_only(src: str, dst: str) -> None:
  for dirpath, _, files in os.walk(src):
    rel = os.path.relpath(dirpath, src)
    for name in files:
      if name in INPUTS or os.path.basename(dirpath) == results_job.RUNS:
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        shutil.copy(os.path.join(dirpath, name), os.path.join(dst, rel, name))


def _files(root: str) -> set:
  return {os.path.relpath(os.path.join(d, n), root) for d, _, files in os.walk(root) for n in files}


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
  """results/ rebuilt in a temporary directory from the committed records alone."""
  assert os.path.exists(os.path.join(RESULTS, results_job.README)), "results/README.md is not committed"
  out = str(tmp_path_factory.mktemp("rebuilt") / "results")
  _inputs_only(RESULTS, out)
  results_job.rebuild(out)
  return out


def test_committed_results_rebuild_byte_identically(rebuilt):
  out = rebuilt
  assert _files(out) == _files(RESULTS), "the rebuild writes other files than results/ holds"
  differ = [f for f in sorted(_files(RESULTS)) if not filecmp.cmp(os.path.join(RESULTS, f), os.path.join(out, f),
                                                                  shallow=False)]
  assert not differ, f"results/ files the rebuild does not reproduce byte for byte: {differ}"


# The paper's figures each experiment's records make (a partial tier, e.g. continued training alone, has only its own).
FIGURES_OF = {"continued": ("fig1_continued",), "model_size": ("fig2_size", "fig5_accuracy_vs_trace"),
              "algorithms": ("fig5_accuracy_vs_trace", "algorithms_equal_loss")}


def test_every_language_with_experiments_has_the_papers_figures(rebuilt):
  out = rebuilt
  for tier in results_job.tiers_of(out):
    cells = [(exp, lang) for exp, lang, _ in results_job._cells(os.path.join(out, tier)) if exp != "quickstart"]  # pylint: disable=protected-access
    figures = os.path.join(out, tier, results_job.FIGURES)
    made = set(os.listdir(figures)) if os.path.isdir(figures) else set()  # a tier with only the quickstart has none
    for exp, lang in cells:
      for name in FIGURES_OF[exp]:
        assert f"{lang}_{name}.png" in made, (tier, exp, lang, sorted(made))


def test_a_damaged_compact_record_is_named(tmp_path):
  out = str(tmp_path / "results")
  _inputs_only(os.path.join(RESULTS, "tiny"), os.path.join(out, "tiny"))  # one tier's records: enough to tear one
  record = next(os.path.join(d, n) for d, _, files in sorted(os.walk(out)) for n in sorted(files)
                if os.path.basename(d) == results_job.RUNS)
  with open(record, "w") as f:
    f.write("{ torn")
  with pytest.raises(ValueError, match=f"{record} is not JSON"):
    results_job.rebuild(out)


def test_an_empty_directory_is_not_results(tmp_path):
  with pytest.raises(ValueError, match="holds no results"):
    results_job.rebuild(str(tmp_path))


def _git(cwd, *args):
  subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                 env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
                          GIT_COMMITTER_EMAIL="t@t"))


def test_the_commit_stamp_ignores_the_results_the_tier_itself_writes(tmp_path, monkeypatch):
  """The tier rewrites results/<tier>/plan.json before it records a cell: that must not mark the code '+dirty'."""
  for rel in ("code.py", "results/cpu/plan.json"):
    os.makedirs(os.path.dirname(tmp_path / rel) or tmp_path, exist_ok=True)
    (tmp_path / rel).write_text("a\n")
  _git(tmp_path, "init", "-q")
  _git(tmp_path, "add", ".")
  _git(tmp_path, "commit", "-q", "-m", "x")
  monkeypatch.chdir(tmp_path)
  clean = results_job.commit(ignore="results")
  assert len(clean) == 12 and "+" not in clean
  (tmp_path / "results/cpu/plan.json").write_text("b\n")
  assert results_job.commit(ignore="results") == clean
  assert results_job.commit() == clean + "+dirty"
  (tmp_path / "code.py").write_text("b\n")
  assert results_job.commit(ignore="results") == clean + "+dirty"
  assert results_job.commit(ignore=str(tmp_path.parent / "elsewhere")) == clean + "+dirty"  # outside: nothing to skip


def test_a_missing_cell_counts_the_runs_it_plans_in_the_stage_account(tmp_path):
  """stages.md: a cell not yet run shows the runs its plan trains (not 0), and the total counts them."""
  import json  # pylint: disable=g-import-not-at-top
  from flatness_jax.analysis import stage_account  # pylint: disable=g-import-not-at-top
  os.makedirs(tmp_path / "cpu")
  estimate = dict.fromkeys(stage_account.STAGES, 60.0)
  cells = [{"experiment": "model_size", "language": lang, "command": f"configs/model_size.py:{lang}", "runs": n,
            "estimate": estimate, "source": "cost model (stage_account)"} for lang, n in (("hmm", 9), ("lm", 6))]
  json.dump({"tier": "cpu", "cells": cells}, open(tmp_path / "cpu" / results_job.PLAN, "w"))
  results_job.rebuild(str(tmp_path))
  lines = open(tmp_path / "cpu" / results_job.STAGES_MD).read().splitlines()
  assert any(line.startswith("| model_size | hmm | 9 |") for line in lines)
  assert any(line.startswith("| **total** | | 15 |") for line in lines)


def test_a_cell_still_to_run_shows_the_before_its_plan_keeps(tmp_path):
  """stages.md: a cell whose recipe changed (tier.plan keeps its first measurement as `before`) shows that before
  and its ratio, and the total's before sums it; a cell with no record is its own before."""
  import json  # pylint: disable=g-import-not-at-top
  from flatness_jax.analysis import stage_account  # pylint: disable=g-import-not-at-top
  os.makedirs(tmp_path / "cpu")
  estimate = dict.fromkeys(stage_account.STAGES, 60.0)
  cells = [{"experiment": "model_size", "language": "hmm", "command": "configs/model_size.py:hmm", "runs": 9,
            "estimate": estimate, "source": "cost model", "stale": "`configs/model_size.py:hmm,old`",
            "before": dict.fromkeys(stage_account.STAGES, 120.0)},
           {"experiment": "model_size", "language": "lm", "command": "configs/model_size.py:lm", "runs": 9,
            "estimate": estimate, "source": "cost model"}]
  json.dump({"tier": "cpu", "cells": cells}, open(tmp_path / "cpu" / results_job.PLAN, "w"))
  results_job.rebuild(str(tmp_path))
  lines = open(tmp_path / "cpu" / results_job.STAGES_MD).read().splitlines()
  row = next(line for line in lines if line.startswith("| model_size | hmm |"))
  assert "| 5.0 | 10.0 | 0.50× |" in row
  assert "| 5.0 | 5.0 | 1.00× |" in next(line for line in lines if line.startswith("| model_size | lm |"))
  assert "| **10.0** | 15.0 | 0.67× |" in next(line for line in lines if line.startswith("| **total** |"))


def test_a_re_recorded_cell_keeps_its_first_measurement_as_its_before(tmp_path):
  """cell.json's baseline: the account and commit of the cell's first measurement, carried through every later
  re-measurement (the plan's 'before'); a first record has none, and re-recording the same measurement (a cell kept
  as finished) adds none."""
  from flatness_jax.analysis import stage_account  # pylint: disable=g-import-not-at-top
  out = str(tmp_path / "cell")
  def record(commit, wall):
    timings = {"train a/seed_0": {"wall": wall, "compile": 1.0, "trace": 0.0}}
    results_job.record_cell({}, {"command": "c", "commit": commit, "timings": timings}, out)
    return results_job.compact.read_json(os.path.join(out, results_job.CELL)), stage_account.account(timings)
  doc, first = record("first", 600.0)
  assert "baseline" not in doc
  doc, _ = record("first", 600.0)  # kept as finished: the same measurement again
  assert "baseline" not in doc
  for commit, wall in (("second", 300.0), ("third", 200.0)):
    doc, account = record(commit, wall)
    assert doc["baseline"] == {"commit": "first", "account": first} and doc["account"] == account


@pytest.mark.parametrize("bad", ["59 minutes", {"commit": "abc"}, {"commit": "abc", "account": {"training": "60"}},
                                 {"commit": "abc", "account": {"traning": 60.0}}])
def test_a_hand_edited_baseline_of_the_wrong_shape_is_named(bad):
  """cell.json's baseline is {commit, account: {stage: seconds}}; anything else is one line naming the file and the
  field, before a plan or a table is built from it (not a TypeError inside the sum)."""
  doc = {"commit": "abc", "account": {"training": 60.0}, "baseline": bad}
  with pytest.raises(ValueError, match=r"results/cpu/x/y/cell.json: baseline must be"):
    results_job.cell_baseline(doc, "results/cpu/x/y/cell.json")
  assert results_job.cell_baseline({"account": {}}, "p") == {}  # a cell measured once has none
  good = {"commit": "abc", "account": {"training": 60.0, "report": 1}}
  assert results_job.cell_baseline({"baseline": good}, "p") == good
