"""launch/gpu_check.sh --tiny: the GPU throughput check's code path on CPU (training, batch search, Hessian trace).

Marked slow: ~60 s on 2 busy CPU cores, most of it compiling the Hessian-trace estimator.
"""
import json
import math
import os
import subprocess

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_gpu_check_tiny(tmp_path):
  out = tmp_path / "gpu_check.json"
  # A 4 MiB "device" makes the batch search run: plan proposal, compiled memory analysis, halving/doubling.
  proc = subprocess.run([os.path.join(REPO_ROOT, "launch", "gpu_check.sh"), "--tiny", "--memory_gib=0.004",
                         "--max_batch=256", f"--out={out}"], cwd=REPO_ROOT, capture_output=True, text=True,
                        timeout=600, env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert proc.returncode == 0, proc.stdout + proc.stderr
  r = json.loads(out.read_text())
  assert r["preset"] == "cpu_tiny" and r["num_params"] == 16178
  assert r["batch_search"] and r["batch_search"][0].startswith("plan proposes batch")
  assert 1 <= r["batch"] <= 256 and r["batch"] & (r["batch"] - 1) == 0  # a power of two
  assert r["tokens_per_second"] > 0 and 0 < r["mfu"] < 1
  assert r["model_flops_per_step"] > 0 and math.isfinite(r["final_loss"])
  assert math.isfinite(r["trace"]) and r["trace_stderr"] > 0
  assert r["trace_in_gradients"] > 1  # 4 Hessian-vector products cost more than one gradient
  assert "hessian trace: Hutchinson 4 probes" in proc.stdout
  v = r["vmap_seeds"]  # train.vmap_seeds' gain: 2 seeds as one program vs separate calls
  assert v["seeds"] == 2 and v["vmapped_seed_steps_per_second"] > 0 and v["separate_seed_steps_per_second"] > 0
  assert v["vmap_gain"] == pytest.approx(v["vmapped_seed_steps_per_second"] / v["separate_seed_steps_per_second"])
  assert "vmap_seeds: 2 seeds of cpu_tiny" in proc.stdout
