"""The tier job (configs/paper.py:<tier>): its plan covers every experiment × language with minutes per stage, a
committed account replaces the cost model, bad cell names are refused in one line, and (slow) the tiny tier runs
end to end, resumes as finished, and writes results/ that rebuild byte for byte."""
import json
import os
import shutil
import subprocess
import sys

import jax
import pytest

from experiments.configs import paper
from flatness_jax.analysis import stage_account
from flatness_jax.jobs import curvature as curvature_job, pipeline, results as results_job, tier
from flatness_jax.train import arms
from tests.conftest import REPO_ROOT


@pytest.fixture
def released(released_grammar_path, monkeypatch):
  monkeypatch.setenv("FLATNESS_RELEASED_GRAMMAR", released_grammar_path)


@pytest.mark.parametrize("name", ["tiny", "cpu"])
def test_the_plan_covers_every_experiment_and_language(name, released, tmp_path):
  config = paper.get_config(name)
  config.results = str(tmp_path)
  rows = tier.plan(config)
  cells = {(r["experiment"], r["language"]) for r in rows}
  assert {(e, l) for e in ("continued", "model_size", "algorithms") for l in paper.LANGUAGES} <= cells
  assert ("quickstart", "pcfg") in cells
  for r in rows:
    assert r["runs"] >= 1 and set(r["estimate"]) == set(stage_account.STAGES)
    assert r["estimate"]["training"] > 0 and r["source"] == "cost model (stage_account)"
  algorithms = next(r for r in rows if r["experiment"] == "algorithms" and r["language"] == "pcfg")
  assert algorithms["runs"] == 4 * paper.SEEDS[name]  # adamw, sgd, sam, adversarial
  text = "\n".join(tier.plan_lines(name, rows))
  assert text.startswith(f"Plan of tier '{name}': {len(rows)} experiment × language cells")
  assert "| **total** |" in text


def test_the_cpu_tier_trains_cpu_s_long_on_the_languages_the_base_recipe_leaves_unsaturated(released):
  cells = paper.get_config("cpu").cells
  for name, cell in cells.items():
    if cell.experiment not in ("model_size", "algorithms") or name.endswith("lstm"):
      continue
    steps = {sub.model.preset: sub.train.num_steps for sub in arms.run_configs(cell.config).values()}
    fewer = paper.FEWER_STEPS.get((cell.experiment, cell.language))
    assert steps["cpu_s"] == (fewer or (6000 if cell.language in paper.LONG else 2600)), name
    if fewer:  # the recipe is in the command the results page shows, so a record of another recipe is stale
      assert cell.command.endswith(f",steps={fewer},seeds=3") and ",long" not in cell.command, cell.command
  assert set(paper.LONG) == {"hmm", "released", "lm"}
  for (exp, lang), n in paper.FEWER_STEPS.items():  # model_size's LSTMs too (xs 2N)
    cell = cells[f"{exp}_{lang}"]
    assert cell.command.endswith(f",steps={n},seeds=3") and ",long" not in cell.command, cell.command
    assert max(sub.train.num_steps for sub in arms.run_configs(cell.config).values()) == (
        2 * n if exp == "model_size" else n)
  for (exp, lang), n in paper.XS_STEPS.items():  # xs alone, the other sizes as the loop above checked
    cell = cells[f"{exp}_{lang}"]
    assert cell.command.endswith(f",xs_steps={n},seeds=3"), cell.command
    assert {sub.model.preset: sub.train.num_steps for sub in arms.run_configs(cell.config).values()}["cpu_xs"] == n


def test_a_committed_account_replaces_the_cost_model(released, tmp_path):
  config = paper.get_config("tiny")
  config.results = str(tmp_path)
  out = results_job.cell_dir(str(tmp_path), "tiny", "continued", "hmm")
  os.makedirs(out)
  account = dict.fromkeys(stage_account.STAGES, 30.0)
  with open(os.path.join(out, results_job.CELL), "w") as f:
    json.dump({"account": account, "commit": "abc123"}, f)
  row = next(r for r in tier.plan(config) if (r["experiment"], r["language"]) == ("continued", "hmm"))
  assert row["estimate"] == account and row["source"] == "measured, commit abc123"
  assert row["before"] == account  # measured once: its own before
  first = dict.fromkeys(stage_account.STAGES, 60.0)
  with open(os.path.join(out, results_job.CELL), "w") as f:
    json.dump({"account": account, "commit": "abc123", "baseline": {"account": first, "commit": "0ld"}}, f)
  rows = tier.plan(config)
  row = next(r for r in rows if (r["experiment"], r["language"]) == ("continued", "hmm"))
  assert row["estimate"] == account and row["before"] == first
  line = next(x for x in tier.plan_lines("tiny", rows) if x.startswith("| continued | hmm |"))
  assert line.endswith("| 2.5 | 5.0 | 0.50× | measured, commit abc123 (before: 0ld) |")


def _tiny_tier_and_its_continued_hmm_cell(tmp_path):
  """(the tiny tier's config with results in tmp_path, its continued × hmm cell, that cell's results directory)."""
  config = paper.get_config("tiny")
  config.results = str(tmp_path)
  cell = next(c for c in config.cells.values() if (c.experiment, c.language) == ("continued", "hmm"))
  out = results_job.cell_dir(str(tmp_path), "tiny", "continued", "hmm")
  os.makedirs(out)
  return config, cell, out


def test_a_committed_record_of_another_command_is_stale_not_done(released, tmp_path):
  """A recipe change (the tier's command for a cell changed) leaves the old record stale: the plan estimates the
  cell as still to run and names the command the record came from; the old account does not calibrate (its shapes
  are another config's)."""
  config, cell, out = _tiny_tier_and_its_continued_hmm_cell(tmp_path)
  account = dict.fromkeys(stage_account.STAGES, 30.0)
  with open(os.path.join(out, results_job.CELL), "w") as f:
    json.dump({"account": account, "commit": "abc123", "command": cell.command + ",old"}, f)
  rows = {(r["experiment"], r["language"]): r for r in tier.plan(config)}
  row = rows[("continued", "hmm")]
  assert row["estimate"] != account and row["source"].startswith("cost model")
  assert row["stale"] == f"`{cell.command},old`" and row["source"].endswith(f"the committed record ran {row['stale']}")
  have = {("continued", "hmm"), ("continued", "pcfg")}
  still = {(c["experiment"], c["language"]) for c in results_job.to_run({"cells": list(rows.values())}, have)}
  assert ("continued", "hmm") in still and ("continued", "pcfg") not in still and ("model_size", "hmm") in still
  assert rows[("model_size", "pcfg")]["source"] == "cost model (stage_account)"  # not calibrated on it
  with open(os.path.join(out, results_job.CELL), "w") as f:  # the same command: done
    json.dump({"account": account, "commit": "abc123", "command": cell.command}, f)
  row = next(r for r in tier.plan(config) if (r["experiment"], r["language"]) == ("continued", "hmm"))
  assert row["estimate"] == account and "stale" not in row


def test_a_committed_record_made_with_another_config_is_stale(released, tmp_path):
  """A config change under the same command (a config file edited: a recipe or a measurement setting) leaves the
  record stale as a command change does: the plan compares the config every committed run recorded with the run the
  tier would train now (after curvature.only_if_correlatable, as the pipeline records it) and names the fields."""
  config = paper.get_config("cpu")
  config.results = str(tmp_path)
  out = results_job.cell_dir(str(tmp_path), "cpu", "model_size", "pcfg")
  shutil.copytree(os.path.join(REPO_ROOT, "results", "cpu", "model_size", "pcfg"), out)
  row = lambda: next(r for r in tier.plan(config) if (r["experiment"], r["language"]) == ("model_size", "pcfg"))
  assert "stale" not in row() and row()["source"].startswith("measured, commit ")  # the committed cell is current
  path = os.path.join(out, "runs", "m__seed_2.json")
  with open(path) as f:
    doc = json.load(f)
  doc["run"]["config"]["curvature"]["num_matvecs"] += 1
  doc["run"]["config"]["optimizer"]["learning_rate"] *= 2
  with open(path, "w") as f:
    json.dump(doc, f)
  r = row()
  assert r["stale"] == f"`{r['command']}` with another config (curvature.num_matvecs, optimizer.learning_rate)"
  assert r["source"].startswith("cost model") and r["source"].endswith(f"the committed record ran {r['stale']}")
  assert ("model_size", "pcfg") in {(c["experiment"], c["language"]) for c in results_job.to_run(
      {"cells": tier.plan(config)}, {("model_size", "pcfg")})}
  os.remove(path)  # a run the record lists and does not hold: its config cannot be compared
  with pytest.raises(ValueError, match="m__seed_2.json"):
    tier.plan(config)


def test_a_stale_cells_before_is_its_records_first_measurement(released, tmp_path):
  """A recipe change keeps the cell's before: the stale record's baseline (its first measurement), or the stale
  record itself when it was measured once, not the cost model's estimate of the new recipe (which would show the
  change as no change)."""
  config, cell, out = _tiny_tier_and_its_continued_hmm_cell(tmp_path)
  account = dict.fromkeys(stage_account.STAGES, 30.0)
  first = {"commit": "0ld", "account": dict.fromkeys(stage_account.STAGES, 60.0)}
  for doc, before, source in (({}, account, "before: abc123"), ({"baseline": first}, first["account"], "before: 0ld")):
    with open(os.path.join(out, results_job.CELL), "w") as f:
      json.dump({"account": account, "commit": "abc123", "command": cell.command + ",old", **doc}, f)
    row = next(r for r in tier.plan(config) if (r["experiment"], r["language"]) == ("continued", "hmm"))
    assert row["estimate"] != account and row["before"] == before
    assert f"({source})" in row["source"] and row["source"].startswith("cost model")
    line = next(x for x in tier.plan_lines("tiny", [row]) if x.startswith("| continued | hmm |"))
    assert f"| {stage_account.minutes(sum(before.values()))} | " in line


def test_missing_cells_are_estimated_by_the_cost_model_calibrated_on_the_measured_cells(released, tmp_path):
  config = paper.get_config("tiny")
  config.results = str(tmp_path)
  modelled = {(r["experiment"], r["language"]): r["estimate"] for r in tier.plan(config)}
  measured = {s: 3.0 * v for s, v in modelled[("continued", "hmm")].items()}  # every stage 3× what the model said
  measured["report"] = 0.0
  out = results_job.cell_dir(str(tmp_path), "tiny", "continued", "hmm")
  os.makedirs(out)
  with open(os.path.join(out, results_job.CELL), "w") as f:
    json.dump({"account": measured, "commit": "abc123"}, f)
  rows = {(r["experiment"], r["language"]): r for r in tier.plan(config)}
  assert rows[("continued", "hmm")]["estimate"] == measured
  other = rows[("model_size", "pcfg")]
  assert other["source"] == "cost model × measured/modelled of 1 committed cell (stage_account.calibration)"
  for s in ("training", "compilation", "curvature", "probes"):
    assert other["estimate"][s] == pytest.approx(3.0 * modelled[("model_size", "pcfg")][s]), s
  assert other["estimate"]["report"] == pytest.approx(0.0)


def test_a_language_with_measured_cells_is_calibrated_on_its_own_cells(released, tmp_path):
  """The LM language's data cost what the model does not see: a missing cell of a language with committed cells is
  scaled by that language's measured/modelled, one of a language without any by the pooled factor of every cell."""
  config = paper.get_config("tiny")
  config.results = str(tmp_path)
  modelled = {(r["experiment"], r["language"]): r["estimate"] for r in tier.plan(config)}
  for lang, factor in (("hmm", 3.0), ("pcfg", 1.0)):
    out = results_job.cell_dir(str(tmp_path), "tiny", "continued", lang)
    os.makedirs(out)
    with open(os.path.join(out, results_job.CELL), "w") as f:
      json.dump({"account": {s: factor * v for s, v in modelled[("continued", lang)].items()}, "commit": "c"}, f)
  rows = {(r["experiment"], r["language"]): r for r in tier.plan(config)}
  pooled = ((3.0 * modelled[("continued", "hmm")]["training"] + modelled[("continued", "pcfg")]["training"])
            / (modelled[("continued", "hmm")]["training"] + modelled[("continued", "pcfg")]["training"]))
  for lang, factor in (("hmm", 3.0), ("pcfg", 1.0), ("lm", pooled)):
    row = rows[("algorithms", lang)]
    assert row["estimate"]["training"] == pytest.approx(factor * modelled[("algorithms", lang)]["training"]), lang
  assert rows[("algorithms", "hmm")]["source"] == ("cost model × measured/modelled of 1 committed hmm cell "
                                                   "(stage_account.calibration)")
  assert rows[("algorithms", "lm")]["source"] == ("cost model × measured/modelled of 2 committed cells "
                                                  "(stage_account.calibration)")


def test_a_kept_cell_keeps_the_commit_of_its_record(tmp_path):
  """A cell kept as finished is re-recorded from its run directories at the commit that measured it (its record's),
  not at the commit of the tier run that merely kept it; a cell with no record, or one of another command, gets
  the current commit."""
  config = paper.get_config("tiny")
  config.results = str(tmp_path)
  cell = config.cells.continued_hmm
  assert tier.kept_commit(config, cell, "new") == "new"
  out = results_job.cell_dir(str(tmp_path), "tiny", "continued", "hmm")
  os.makedirs(out)
  for command, expected in ((cell.command, "old"), ("configs/continued.py:hmm,seeds=9", "new")):
    with open(os.path.join(out, results_job.CELL), "w") as f:
      json.dump({"command": command, "commit": "old"}, f)
    assert tier.kept_commit(config, cell, "new") == expected, command


def test_plan_only_writes_the_plan_and_rebuilds_results_without_running_a_cell(released, tmp_path, capsys):
  config = paper.get_config("tiny")
  config.results = str(tmp_path / "results")
  config.plan_only = True
  tier.run_tier(config, str(tmp_path / "runs"))
  assert not (tmp_path / "runs").exists()
  plan = json.load(open(tmp_path / "results" / "tiny" / results_job.PLAN))
  assert len(plan["cells"]) == len(config.cells)
  assert (tmp_path / "results" / results_job.README).exists()
  assert capsys.readouterr().out.startswith("Plan of tier 'tiny'")


def test_unknown_cells_are_refused_and_an_empty_cell_is_unfinished(tmp_path):
  config = paper.get_config("tiny")
  config.only = "continued_pcfg,continued_klingon"
  with pytest.raises(ValueError, match=r"only: unknown cell\(s\) \['continued_klingon'\]"):
    tier.selected_cells(config)
  config.only = "model_size_lm"
  assert [n for n, _ in tier.selected_cells(config)] == ["model_size_lm"]
  assert tier.unfinished(config.cells.model_size_lm.config, str(tmp_path)) == "xs/seed_0 not trained"


@pytest.mark.slow
def test_the_tiny_tier_runs_end_to_end_resumes_and_rebuilds(tmp_path):
  """As a fresh clone runs it (minutes): every cell, results/ written; run again, every cell is kept as finished
  and results/ rebuilds to the same bytes."""
  out = str(tmp_path / "results")
  cmd = [sys.executable, "-m", "experiments.main", "--config=configs/paper.py:tiny", f"--workdir={tmp_path / 'runs'}",
         f"--config.results={out}"]
  first = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=7200)
  assert first.returncode == 0, first.stderr[-3000:]
  assert first.stdout.startswith("Plan of tier 'tiny'")
  cells = paper.get_config("tiny").cells
  readme = open(os.path.join(out, results_job.README)).read()
  for cell in cells.values():
    assert f"`{cell.command}`" in readme
    assert os.path.exists(os.path.join(out, "tiny", cell.experiment, cell.language, "report.md"))
  assert "Missing cells" not in readme
  before = {f: open(os.path.join(out, f), "rb").read() for f in ("README.md", "tiny/stages.md")}
  again = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
  assert again.returncode == 0, again.stderr[-3000:]
  assert again.stdout.count("finished, kept") == len(cells)
  for f, data in before.items():
    assert open(os.path.join(out, f), "rb").read() == data, f


@pytest.mark.slow
def test_cells_measured_in_a_run_calibrate_its_missing_estimates_and_a_rerun_rebuilds_the_same_bytes(tmp_path):
  """One cell of the tiny tier: results/ written at the end already estimates the missing cells from it (the plan
  is written again after the cell is recorded), so a rerun, which keeps the cell, rebuilds the same bytes."""
  out = str(tmp_path / "results")
  cmd = [sys.executable, "-m", "experiments.main", "--config=configs/paper.py:tiny", "--config.only=continued_pcfg",
         f"--workdir={tmp_path / 'runs'}", f"--config.results={out}"]
  first = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
  assert first.returncode == 0, first.stderr[-3000:]
  files = ("README.md", "tiny/stages.md", "tiny/plan.json")
  before = {f: open(os.path.join(out, f), "rb").read() for f in files}
  assert b"cost model \xc3\x97 measured/modelled of 1 committed cell" in before["tiny/stages.md"]
  again = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
  assert again.returncode == 0, again.stderr[-3000:]
  assert again.stdout.count("finished, kept") == 1
  for f, data in before.items():
    assert open(os.path.join(out, f), "rb").read() == data, f


def test_only_the_tiny_tier_compiles_fast():
  assert paper.get_config("tiny").xla_fast_compile and not paper.get_config("cpu").xla_fast_compile
  before = jax.config.read("jax_disable_most_optimizations")
  try:
    jax.config.update("jax_disable_most_optimizations", False)
    assert not tier.fast_compile(paper.get_config("cpu"))
    assert not jax.config.read("jax_disable_most_optimizations")
    assert tier.fast_compile(paper.get_config("tiny")) and jax.config.read("jax_disable_most_optimizations")
  finally:
    jax.config.update("jax_disable_most_optimizations", before)


def test_a_cell_directory_holding_runs_of_another_config_is_refused_before_any_cell_runs(released, tmp_path):
  """A cell's run directory left by an older recipe (the tier's config changed) is neither kept as finished nor
  resumed: the tier names it, says to move it aside, and runs nothing (no cell, no data card)."""
  from tests.jobs.test_pipeline import _plant_other_run  # pylint: disable=g-import-not-at-top
  config = paper.get_config("tiny")
  config.only = "continued_pcfg,continued_hmm"
  config.results = str(tmp_path / "results")
  cell = config.cells.continued_hmm
  d = tmp_path / "runs" / cell.experiment / cell.language
  recorded, _ = curvature_job.correlatable_measures(cell.config)  # what the cell's pipeline records
  _plant_other_run(recorded, str(d), list(arms.run_configs(cell.config))[0])
  with pytest.raises(ValueError, match=r"continued × hmm: .*config differs from the run's \(optimizer\.learning_rate"
                                       r".*: move .*continued/hmm aside .*or use a new --workdir$"):
    tier.run_tier(config, str(tmp_path / "runs"))
  assert not (tmp_path / "runs" / "continued" / "pcfg").exists()
  assert os.listdir(d) == [list(arms.run_configs(cell.config))[0].split("/")[0]]  # the planted run only


def test_a_cell_holding_the_runs_its_pipeline_wrote_is_not_refused(released, tmp_path):
  """The quickstart's pipeline records its runs without the measures it cannot correlate
  (curvature.only_if_correlatable); the tier's check before any cell runs compares the runs with that same config, so
  a tier run again finds its quickstart cell its own (it refused it as another recipe's)."""
  config = paper.get_config("tiny")
  cell = config.cells.quickstart_pcfg
  measured, note = curvature_job.correlatable_measures(cell.config)
  assert note and not measured.curvature.sharpness
  d = tmp_path / cell.experiment / cell.language
  for name, sub in arms.run_configs(measured).items():
    os.makedirs(d / name)
    with open(d / name / "config.json", "w") as f:
      json.dump(arms.resolve_run_config(sub).to_dict(), f)
  tier.check_cells([("quickstart_pcfg", cell)], str(tmp_path))


def test_a_measured_tier_records_the_machine_and_its_reference_time_in_the_cell(tmp_path, monkeypatch):
  """A cell of a measured tier records the machines that ran it (the pipeline's machine.json: processor, cores, JAX
  build) with the reference program's time the tier measured before running it; the tiny tier measures none. (The
  timing itself: tests/parallel/test_machine.py.)"""
  from flatness_jax.parallel import machine  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(machine, "reference_ms", lambda rounds=5: 123.4)
  cpu, tiny = paper.get_config("cpu"), paper.get_config("tiny")
  assert tier.measure_machine(tiny, str(tmp_path / "tiny")) == "" and not (tmp_path / "tiny").exists()
  d = str(tmp_path / "cell")
  pipeline.record_machine(d, machine.identity())  # what the pipeline writes when it starts
  line = tier.measure_machine(cpu, d)
  doc = tier.cell_document(cpu, cpu.cells.continued_hmm, d, "abc")
  [m] = doc["machines"]
  assert m["processor"] == machine.processor() and m["reference_ms"] == 123.4 and line == machine.describe(m)
  pipeline.record_machine(d, machine.identity())  # a resume on the same machine keeps the measured time
  assert tier.cell_document(cpu, cpu.cells.continued_hmm, d, "abc")["machines"] == [m]
  source = stage_account.machine_source(doc["machines"])
  assert source == f"; machine {m['processor']}, reference 123 ms"
