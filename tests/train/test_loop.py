"""End-to-end training: smoke run, kill-and-resume exactness, NaN stop, config validation, 4 devices vs 1."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, run_python

TINY = ["--config=configs/tiny.py"]


def _main(workdir, *overrides, env_extra=None, devices=1):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
  env.update(env_extra or {})
  return [sys.executable, "-m", "experiments.main", *TINY, f"--workdir={workdir}", *overrides], env


def _run(workdir, *overrides, devices=1):
  cmd, env = _main(workdir, *overrides, devices=devices)
  proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
  return proc


def _final_params(workdir):
  import orbax.checkpoint as ocp
  ck = os.path.join(workdir, "checkpoints")
  step = max(int(s) for s in os.listdir(ck) if s.isdigit())
  restored = ocp.StandardCheckpointer().restore(os.path.join(ck, str(step), "default"))
  import jax
  return step, jax.tree.map(np.asarray, restored["params"])


# One tiny run on one device, FSDP on (a no-op there), evaluated every 10 steps: the smoke test reads its run
# directory and the four-device test compares its curve (one run serves both: the file's subprocess runs are most
# of its time).
ONE_DEVICE = ("--config.train.num_steps=40", "--config.eval.every=10", "--config.parallel.fsdp=True")


@pytest.fixture(scope="module")
def one_device_run(tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("one_device") / "run")
  proc = _run(wd, *ONE_DEVICE)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return wd


def _eval_curve(wd):
  rows = [json.loads(l) for l in open(os.path.join(wd, "metrics.jsonl"))]
  return np.array([r["eval_loss"] for r in rows if "eval_loss" in r])


def test_smoke_run_writes_the_run_directory(one_device_run):
  wd = one_device_run
  for name in ("config.json", "metrics.jsonl", "summary.json"):
    assert os.path.exists(os.path.join(wd, name)), name
  summary = json.load(open(os.path.join(wd, "summary.json")))
  for key in ("num_params", "steps", "wall_seconds", "optimal_loss", "final_loss", "final_gap", "final_gap_se"):
    assert key in summary
  assert summary["steps"] == 40
  # The gap is the paired difference of the same held-out pairs: loss − optimal.
  np.testing.assert_allclose(summary["final_gap"], summary["final_loss"] - summary["optimal_loss"], atol=1e-9)
  rows = [json.loads(l) for l in open(os.path.join(wd, "metrics.jsonl"))]
  assert rows[0]["step"] == 0 and rows[-1]["step"] == 40
  assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(wd, "tensorboard")))


@pytest.mark.slow
def test_killed_run_resumes_to_identical_parameters(tmp_path):
  """Slow tier: tests/jobs/test_faults.py kills one run directory at every event (SIGKILL among them) in the default
  tier and compares parameters and every record with an uninterrupted run."""
  steps = ["--config.train.num_steps=120", "--config.checkpoint.every=20", "--config.train.steps_per_call=5"]
  ref = str(tmp_path / "ref")
  assert _run(ref, *steps).returncode == 0
  wd = str(tmp_path / "killed")
  cmd, env = _main(wd, *steps)
  p = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  ck = os.path.join(wd, "checkpoints")
  deadline = time.time() + 300
  while time.time() < deadline and p.poll() is None:
    if os.path.isdir(ck) and any(s.isdigit() and int(s) >= 40 for s in os.listdir(ck)):
      break
    time.sleep(0.05)
  assert p.poll() is None, "run finished before it could be killed; make it longer"
  p.send_signal(signal.SIGKILL)
  p.wait()
  assert not os.path.exists(os.path.join(wd, "summary.json"))
  proc = _run(wd, *steps)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "resuming" in proc.stderr
  s1, p1 = _final_params(ref)
  s2, p2 = _final_params(wd)
  assert s1 == s2 == 120
  import jax
  for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2)):
    np.testing.assert_array_equal(a, b)


def test_nan_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
  wd = str(tmp_path / "nan")
  proc = _run(wd, "--config.train.num_steps=60", "--config.optimizer.learning_rate=1e30",
              "--config.optimizer.clip_norm=0.0", "--config.optimizer.warmup_steps=0",
              "--config.optimizer.schedule=constant", "--config.checkpoint.every=1000")
  assert proc.returncode == 2  # a named error, reported in one line (experiments/errors.py)
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("error: training loss is") and "at step" in last and "Traceback" not in proc.stderr
  assert os.path.isdir(os.path.join(wd, "checkpoints", "0"))
  assert not os.path.exists(os.path.join(wd, "summary.json"))


@pytest.mark.parametrize("override,field", [
    ("--config.train.batch_size=30", "train.batch_size"),
    ("--config.model.num_heads=3", "num_heads"),
    ("--config.optimizer.name=adagrad", "optimizer.name"),
    ("--config.model.max_length=2", "model.max_length"),
    ("--config.train.masking=all", "train.masking"),
])
def test_impossible_configs_fail_before_compiling(tmp_path, override, field):
  proc = _run(str(tmp_path / "bad"), override, devices=4)
  assert proc.returncode != 0
  assert field in proc.stderr
  assert not os.path.exists(tmp_path / "bad" / "checkpoints")


def test_four_devices_match_one_device(tmp_path, one_device_run):
  wd = str(tmp_path / "d4")
  proc = _run(wd, *ONE_DEVICE, devices=4)
  assert proc.returncode == 0, proc.stderr[-3000:]
  # Same data, masks and init; only reduction order differs across devices (float32).
  one, four = _eval_curve(one_device_run), _eval_curve(wd)
  assert len(one) >= 4
  np.testing.assert_allclose(one, four, rtol=2e-4, atol=2e-4)
