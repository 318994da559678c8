"""The whole quickstart pipeline (data card → train → curvature → probes → report) on its tiny variant."""
import json
import os
import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_tiny_quickstart_pipeline_end_to_end(tmp_path):
  wd = str(tmp_path / "qs")
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-m", "experiments.main", "--config=configs/quickstart.py:tiny",
                         f"--workdir={wd}"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-4000:]
  card = json.load(open(os.path.join(wd, "data_card.json")))
  run = os.path.join(wd, "cpu_tiny")
  summary = json.load(open(os.path.join(run, "summary.json")))
  # The data card and the training run estimate the same optimal loss (different samples): within 5 SEs.
  se = (card["optimal_loss_se"] ** 2 + summary["optimal_loss_se"] ** 2) ** 0.5
  assert abs(card["optimal_loss"] - summary["optimal_loss"]) < 5 * se
  curv = json.load(open(os.path.join(run, "curvature.json")))["steps"]
  assert sorted(curv, key=int) == ["20", "40"]
  for entry in curv.values():
    assert entry["hessian_trace_hutchinson"]["stderr"] > 0 and entry["fisher_trace"]["value"] > 0
    assert "A" in entry["downstream_trace"]
  probes = json.load(open(os.path.join(run, "probes.json")))
  acc = probes["steps"]["40"]["A"]["accuracy_mean"]
  assert 0.0 <= acc <= 1.0 and "A" in probes["lookup"]
  text = open(os.path.join(wd, "report.md")).read()
  assert "## Final checkpoints" in text and "cpu_tiny" in text
  assert "report:" in proc.stdout
