"""The whole quickstart pipeline (data card → train → curvature → probes → report) on its tiny variant, with two
pre-training seeds so the seed layout and the seed-level report run end to end."""
import json
import os
import subprocess
import sys

import numpy as np

from experiments.configs import quickstart
from flatness_jax import jobs
from flatness_jax.train import arms
from tests.conftest import REPO_ROOT


def test_tiny_quickstart_pipeline_end_to_end(tmp_path):
  wd = str(tmp_path / "qs")
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-m", "experiments.main", "--config=configs/quickstart.py:tiny",
                         f"--workdir={wd}", "--config.seeds=2"], cwd=REPO_ROOT, env=env, capture_output=True,
                        text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-4000:]
  card = json.load(open(os.path.join(wd, "data_card.json")))
  run = os.path.join(wd, "cpu_tiny", "seed_0")
  configs = [json.load(open(os.path.join(wd, "cpu_tiny", f"seed_{k}", "config.json"))) for k in (0, 1)]
  assert [(c["arm"], c["replicate"], c["seed"]) for c in configs] == [
      ("cpu_tiny", k, arms.stream_seed(0, "cpu_tiny", k, "pretraining")) for k in (0, 1)]
  losses = [np.load(os.path.join(wd, "cpu_tiny", f"seed_{k}", "heldout_losses.npz")) for k in (0, 1)]
  assert str(losses[0]["digest"]) == str(losses[1]["digest"])  # the same held-out pairs ...
  assert not np.array_equal(losses[0]["losses"][-1], losses[1]["losses"][-1])  # ... and two different models
  assert losses[0]["steps"].tolist() == [0, 1, 2, 4, 8, 16, 20, 40]
  summary = json.load(open(os.path.join(run, "summary.json")))
  # The data card and the training run estimate the same optimal loss (different samples): within 5 SEs.
  se = (card["optimal_loss_se"] ** 2 + summary["optimal_loss_se"] ** 2) ** 0.5
  assert abs(card["optimal_loss"] - summary["optimal_loss"]) < 5 * se
  curv = json.load(open(os.path.join(run, "curvature.json")))["steps"]
  assert sorted(curv, key=int) == ["20", "40"]
  for entry in curv.values():
    assert entry["hessian_trace_hutchinson"]["stderr"] > 0 and entry["fisher_trace"]["value"] > 0
    # 2 runs: nothing only a correlation over ≥ 6 runs uses is measured, and the runs record that.
    assert not entry["downstream_trace"] and "sharpness" not in entry
  recorded = json.load(open(os.path.join(run, "config.json")))["curvature"]
  assert (recorded["tasks"], recorded["sharpness"]) == ("", "") and "curvature: 2 runs, fewer than" in proc.stdout
  probes = json.load(open(os.path.join(run, "probes.json")))
  acc = probes["steps"]["40"]["A"]["accuracy_mean"]
  assert 0.0 <= acc <= 1.0 and "A" in probes["lookup"]
  text = open(os.path.join(wd, "report.md")).read()
  assert text.index("## Findings") < text.index("## Final checkpoints") and "cpu_tiny/seed_1" in text
  # The quickstart declares one claim, larger vs smaller; :tiny trains one size, so its row is untested, and
  # findings.json beside report.md holds every row.
  row = [l for l in text.splitlines() if l.startswith("| Larger is better at equal loss")][0]
  assert "**untested: one model size measured**" in row
  assert json.load(open(os.path.join(wd, "findings.json")))["family"]["claims"] == ["size"]
  assert "report:" in proc.stdout
  trained = json.load(open(os.path.join(wd, "timings.json")))
  # The quickstart's runs train, and are measured, two at once (their records against one at a time: the slow
  # tests/jobs/test_concurrent_runs.py).
  assert {f"{kind} 2 runs, 2 at a time" for kind in ("train", "curvature", "probes")} <= set(trained)
  assert "report" in trained
  # A report-only call adds its report time and keeps the other stages' timings.
  # (in process: the run above already went through experiments.main)
  config = quickstart.get_config("tiny")
  config.seeds, config.stages = 2, "report"
  jobs.run(config, wd)
  timings = json.load(open(os.path.join(wd, "timings.json")))
  assert timings["train 2 runs, 2 at a time"] == trained["train 2 runs, 2 at a time"]
  assert timings["report"]["wall"] > trained["report"]["wall"]
