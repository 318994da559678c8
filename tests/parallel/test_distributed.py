"""flatness_jax.parallel.distributed: mode detection from the environment, and a real 2-process start-up."""
import os
import subprocess
import textwrap

import pytest

from flatness_jax.parallel import distributed
from tests.conftest import REPO_ROOT

LAUNCHER = os.path.join(REPO_ROOT, "launch", "local_multiprocess.sh")


@pytest.mark.parametrize("env, mode", [
    ({}, None),
    ({"FLATNESS_DISTRIBUTED": "none", "SLURM_NTASKS": "4", "SLURM_PROCID": "0", "SLURM_STEP_NODELIST": "n1"}, None),
    ({"FLATNESS_DISTRIBUTED": "tpu"}, "tpu"),
    ({"FLATNESS_DISTRIBUTED": "Auto"}, "auto"),
    ({"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1234", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1"}, "explicit"),
    ({"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1234", "JAX_NUM_PROCESSES": "1", "JAX_PROCESS_ID": "0"}, None),
    ({"SLURM_NTASKS": "8", "SLURM_PROCID": "3", "SLURM_STEP_NODELIST": "gpu[01-02]"}, "slurm"),
    ({"SLURM_NTASKS": "1", "SLURM_PROCID": "0", "SLURM_STEP_NODELIST": "gpu01"}, None),
    ({"TPU_WORKER_HOSTNAMES": "t1,t2,t3,t4"}, "tpu"),
    ({"TPU_WORKER_HOSTNAMES": "localhost"}, None),
])
def test_detect_mode(env, mode):
  assert distributed.detect_mode(env) == mode


def test_detect_mode_rejects_unknown():
  with pytest.raises(ValueError, match="FLATNESS_DISTRIBUTED"):
    distributed.detect_mode({"FLATNESS_DISTRIBUTED": "mpi"})


def test_explicit_arguments():
  env = {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:8476", "JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "2",
         "JAX_LOCAL_DEVICE_IDS": "0,1"}
  assert distributed.explicit_arguments(env) == dict(coordinator_address="10.0.0.1:8476", num_processes=4,
                                                     process_id=2, local_device_ids=[0, 1])
  with pytest.raises(ValueError, match="JAX_PROCESS_ID"):
    distributed.explicit_arguments({"JAX_COORDINATOR_ADDRESS": "a:1", "JAX_NUM_PROCESSES": "2"})
  with pytest.raises(ValueError, match=r"\[0, JAX_NUM_PROCESSES=2\)"):
    distributed.explicit_arguments({"JAX_COORDINATOR_ADDRESS": "a:1", "JAX_NUM_PROCESSES": "2",
                                    "JAX_PROCESS_ID": "2"})


def test_single_process_is_a_no_op():
  assert distributed.maybe_initialize({}) is None


PSUM_SCRIPT = """
from flatness_jax.parallel import distributed
mode = distributed.maybe_initialize()
import jax, jax.numpy as jnp, numpy as np
from flatness_jax.parallel import mesh as mesh_lib
mesh = mesh_lib.make_mesh(1)
x = np.arange(16.0)
per = 16 // jax.process_count()
local = x[jax.process_index() * per:(jax.process_index() + 1) * per]
g = jax.make_array_from_process_local_data(mesh_lib.batch_sharding(mesh), local, x.shape)
print(f"RESULT {mode} {jax.process_index()} {jax.process_count()} {jax.device_count()} "
      f"{float(jax.jit(jnp.sum)(g * g))}")
"""


@pytest.mark.multiprocess
def test_two_processes_form_one_device_set(tmp_path):
  """2 processes x 2 CPU devices: one 4-device mesh; a sharded reduction sees every process's rows."""
  (tmp_path / "psum_probe.py").write_text(textwrap.dedent(PSUM_SCRIPT))
  env = dict(os.environ, PYTHONPATH=str(tmp_path))
  proc = subprocess.run([LAUNCHER, "--module=psum_probe", f"--log-dir={tmp_path}/logs", "2", "2"], env=env,
                        capture_output=True, text=True, timeout=120)
  logs = [(tmp_path / "logs" / f"process_{i}.log").read_text() for i in range(2)]
  assert proc.returncode == 0, proc.stderr + "\n".join(logs)
  want = float(sum(i * i for i in range(16)))
  for i, log in enumerate(logs):
    result = [line.split()[1:] for line in log.splitlines() if line.startswith("RESULT")]
    assert result == [["explicit", str(i), "2", "4", str(want)]], log


def test_initialize_after_backend_use_raises(tmp_path):
  """Calling it after JAX touched a backend is an error that says what to do."""
  code = """
  import jax
  jax.devices()
  from flatness_jax.parallel import distributed
  try:
    distributed.maybe_initialize({"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1", "JAX_NUM_PROCESSES": "2",
                                  "JAX_PROCESS_ID": "0"})
  except RuntimeError as e:
    print("RAISED", "first thing in main()" in str(e))
  """
  from tests.conftest import run_python  # pylint: disable=g-import-not-at-top
  assert "RAISED True" in run_python(code).stdout

