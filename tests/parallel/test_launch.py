"""Launch scripts: shellcheck-clean, dry runs print the right commands, a failing process fails the launch."""
import os
import shutil
import subprocess
import textwrap

import pytest

from tests.conftest import REPO_ROOT

LAUNCH = os.path.join(REPO_ROOT, "launch")
SCRIPTS = ["local_multiprocess.sh", "run_tpu.sh", "slurm_gpu.sbatch", "gpu_check.sh"]


def _run(args, env=None, **kw):
  return subprocess.run(args, capture_output=True, text=True, timeout=60, env=dict(os.environ, **(env or {})),
                        cwd=REPO_ROOT, **kw)


@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck(script):
  if shutil.which("shellcheck") is None:
    pytest.skip("shellcheck not installed (apt-get install shellcheck)")
  proc = _run(["shellcheck", "--shell=bash", os.path.join(LAUNCH, script)])
  assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_executable(script):
  assert os.access(os.path.join(LAUNCH, script), os.X_OK)


def test_local_multiprocess_dry_run():
  proc = _run([os.path.join(LAUNCH, "local_multiprocess.sh"), "--dry-run", "2", "3", "--",
               "--config=configs/tiny.py", "--workdir=/tmp/a b"], env={"FLATNESS_PORT": "4321"})
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.splitlines()
  assert len(lines) == 3 and lines[-1].startswith("wait")
  for i, line in enumerate(lines[:2]):
    for part in ("JAX_PLATFORMS=cpu", "--xla_force_host_platform_device_count=3",
                 "JAX_COORDINATOR_ADDRESS=127.0.0.1:4321", "JAX_NUM_PROCESSES=2", f"JAX_PROCESS_ID={i}",
                 "-m experiments.main --config=configs/tiny.py --workdir=/tmp/a\\ b"):
      assert part in line, line


def test_local_multiprocess_fails_when_a_process_fails(tmp_path):
  """Process 1 exits 3 at once; process 0 would sleep 60 s: the launch stops it and exits 3."""
  (tmp_path / "fail_probe.py").write_text(textwrap.dedent("""
      import os, sys, time
      if os.environ["JAX_PROCESS_ID"] == "1":
        sys.exit(3)
      time.sleep(60)
  """))
  proc = _run([os.path.join(LAUNCH, "local_multiprocess.sh"), "--module=fail_probe", "2"],
              env={"PYTHONPATH": str(tmp_path)})
  assert proc.returncode == 3
  assert "exited with status 3" in proc.stderr


def test_local_multiprocess_rejects_bad_arguments():
  proc = _run([os.path.join(LAUNCH, "local_multiprocess.sh"), "two", "--", "--config=x"])
  assert proc.returncode == 2


def test_run_tpu_dry_run():
  proc = _run([os.path.join(LAUNCH, "run_tpu.sh"), "--dry-run", "--tpu=pod", "--zone=us-west4-a", "--",
               "--config=configs/pcfg.py:paper", "--workdir=gs://b/r"])
  assert proc.returncode == 0, proc.stderr
  out = proc.stdout
  assert "gcloud compute tpus tpu-vm scp" in out and "--worker=all" in out
  assert "gcloud compute tpus tpu-vm ssh pod --zone=us-west4-a --worker=all --command=" in out
  assert "launch/run_tpu.sh\\ --\\ --config=configs/pcfg.py:paper\\ --workdir=gs://b/r" in out
  worker = _run([os.path.join(LAUNCH, "run_tpu.sh"), "--dry-run", "--", "--config=configs/tiny.py"])
  assert worker.returncode == 0, worker.stderr
  assert worker.stdout.splitlines() == [
      "python3 -m pip install --quiet -e ./curvature -e .\\[tpu\\]", "export FLATNESS_DISTRIBUTED=tpu",
      "python3 -m experiments.main --config=configs/tiny.py"]


def test_slurm_dry_run():
  proc = _run(["bash", os.path.join(LAUNCH, "slurm_gpu.sbatch"), "--config=configs/pcfg.py:paper",
               "--workdir=/shared/x"], env={"FLATNESS_DRY_RUN": "1"})
  assert proc.returncode == 0, proc.stderr
  assert "export FLATNESS_DISTRIBUTED=slurm" in proc.stdout
  assert proc.stdout.splitlines()[-1] == ("srun --kill-on-bad-exit=1 python -m experiments.main "
                                          "--config=configs/pcfg.py:paper --workdir=/shared/x")
  with open(os.path.join(LAUNCH, "slurm_gpu.sbatch")) as f:
    header = f.read()
  assert "#SBATCH --ntasks-per-node=8" in header and "#SBATCH --gpus-per-node=8" in header


def _fake_bin(tmp_path, name, body):
  path = tmp_path / "bin" / name
  path.parent.mkdir(exist_ok=True)
  path.write_text("#!/usr/bin/env bash\n" + body)
  path.chmod(0o755)
  return path


@pytest.mark.parametrize("status,requeued", [(75, True), (0, False), (3, False)])
def test_slurm_requeues_a_run_that_stopped_with_its_checkpoint(tmp_path, status, requeued):
  """srun exiting 75 (a run stopped by SIGTERM after its checkpoint) makes the job requeue itself; other statuses
  end the job with them. A SIGTERM to the batch shell while srun runs does not end the wait."""
  _fake_bin(tmp_path, "srun", f'trap "" TERM\nsleep 1\nexit {status}\n')
  _fake_bin(tmp_path, "scontrol", f'echo "$@" > {tmp_path}/scontrol.args\n')
  env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "SLURM_JOB_ID": "123", "SLURM_SUBMIT_DIR": REPO_ROOT}
  proc = subprocess.Popen(["bash", os.path.join(LAUNCH, "slurm_gpu.sbatch"), "--config=configs/tiny.py"],
                          env=dict(os.environ, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  import time  # pylint: disable=g-import-not-at-top
  time.sleep(0.4)
  proc.send_signal(15)
  out, err = proc.communicate(timeout=30)
  assert proc.returncode == status, out + err
  assert os.path.exists(tmp_path / "scontrol.args") == requeued
  if requeued:
    assert (tmp_path / "scontrol.args").read_text().split() == ["requeue", "123"]


def test_local_multiprocess_passes_sigterm_on_and_returns_the_stopped_status(tmp_path):
  """Each process exits 75 on SIGTERM (as a stopped training run does); the launcher forwards the signal, waits for
  both and returns 75 instead of killing them."""
  (tmp_path / "stop_probe.py").write_text(textwrap.dedent("""
      import signal, sys, time
      signal.signal(signal.SIGTERM, lambda *_: sys.exit(75))
      time.sleep(60)
  """))
  proc = subprocess.Popen([os.path.join(LAUNCH, "local_multiprocess.sh"), "--module=stop_probe", "2"], cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(tmp_path)), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  import time  # pylint: disable=g-import-not-at-top
  time.sleep(2)
  proc.send_signal(15)
  _, err = proc.communicate(timeout=60)
  assert proc.returncode == 75, err
  assert "SIGTERM; passing it on" in err and "stopping the others" not in err
