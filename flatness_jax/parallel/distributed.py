"""Multi-process (multi-host) start-up: `jax.distributed.initialize` chosen from the environment.

`maybe_initialize()` is the only call a program needs, placed before anything touches a JAX backend (the first
line of experiments/main.py's `main`). It picks one of these modes and does nothing when none applies:

  'tpu'      FLATNESS_DISTRIBUTED=tpu, or a multi-host TPU slice's worker variables (TPU_WORKER_HOSTNAMES with
             several hosts, or MEGASCALE_COORDINATOR_ADDRESS): `jax.distributed.initialize()` reads the topology
             from the TPU metadata (launch/run_tpu.sh).
  'slurm'    FLATNESS_DISTRIBUTED=slurm, or a SLURM job step with SLURM_NTASKS > 1 (srun): JAX's own SLURM
             detection gives the coordinator (first node of SLURM_STEP_NODELIST, port from the job id), the process
             count (SLURM_NTASKS), the process id (SLURM_PROCID) and one GPU per local task (GPU SLURM_LOCALID,
             or GPU 0 when CUDA_VISIBLE_DEVICES shows the task a single GPU) (launch/slurm_gpu.sbatch).
  'explicit' FLATNESS_DISTRIBUTED=explicit, or JAX_COORDINATOR_ADDRESS (host:port of process 0) together with
             JAX_NUM_PROCESSES and JAX_PROCESS_ID; optional JAX_LOCAL_DEVICE_IDS ("0,1"). With JAX_PLATFORMS=cpu the
             CPU collectives are switched to gloo first, so several CPU processes form one global device set
             (launch/local_multiprocess.sh).
  'auto'     FLATNESS_DISTRIBUTED=auto: `jax.distributed.initialize()` with JAX's cluster auto-detection
             (TPU, SLURM, Open MPI, Kubernetes).

FLATNESS_DISTRIBUTED=none (or 0/off/false) disables all of them. FLATNESS_DISTRIBUTED_TIMEOUT sets the seconds to
wait for every process to join (default 300). Calling it a second time, or after `jax.distributed.initialize`
already ran, is a no-op.
"""
import os
from typing import Mapping

from absl import logging
import jax

MODES = ("tpu", "slurm", "explicit", "auto")
_OFF = ("none", "0", "off", "false", "no")
ENV_MODE = "FLATNESS_DISTRIBUTED"
ENV_TIMEOUT = "FLATNESS_DISTRIBUTED_TIMEOUT"


def detect_mode(environ: Mapping[str, str] | None = None) -> str | None:
  """The start-up mode the environment asks for ('tpu', 'slurm', 'explicit', 'auto'), or None for one process."""
  env = os.environ if environ is None else environ
  forced = env.get(ENV_MODE, "").strip().lower()
  if forced in _OFF and forced:
    return None
  if forced:
    if forced not in MODES:
      raise ValueError(f"{ENV_MODE}={env[ENV_MODE]!r} is not one of {MODES + ('none',)}")
    return forced
  if env.get("JAX_COORDINATOR_ADDRESS") and env.get("JAX_NUM_PROCESSES"):
    return "explicit" if int(env["JAX_NUM_PROCESSES"]) > 1 else None
  if int(env.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_PROCID" in env and "SLURM_STEP_NODELIST" in env:
    return "slurm"
  if "," in env.get("TPU_WORKER_HOSTNAMES", "") or env.get("MEGASCALE_COORDINATOR_ADDRESS"):
    return "tpu"
  return None


def explicit_arguments(environ: Mapping[str, str] | None = None) -> dict:
  """Keyword arguments of `jax.distributed.initialize` from JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES /
  JAX_PROCESS_ID (/ JAX_LOCAL_DEVICE_IDS); raises ValueError naming a missing or malformed variable."""
  env = os.environ if environ is None else environ
  missing = [v for v in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID") if not env.get(v)]
  if missing:
    raise ValueError(f"explicit multi-process start-up needs {', '.join(missing)} in the environment")
  n, i = int(env["JAX_NUM_PROCESSES"]), int(env["JAX_PROCESS_ID"])
  if not 0 <= i < n:
    raise ValueError(f"JAX_PROCESS_ID={i} must be in [0, JAX_NUM_PROCESSES={n})")
  kwargs = dict(coordinator_address=env["JAX_COORDINATOR_ADDRESS"], num_processes=n, process_id=i)
  if env.get("JAX_LOCAL_DEVICE_IDS"):
    kwargs["local_device_ids"] = [int(x) for x in env["JAX_LOCAL_DEVICE_IDS"].split(",")]
  return kwargs


def _already_initialized() -> bool:
  from jax._src import distributed as jax_distributed  # pylint: disable=g-import-not-at-top
  return jax_distributed.global_state.client is not None


def _backends_initialized() -> bool:
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
  return xla_bridge.backends_are_initialized()


def _cpu_only(env: Mapping[str, str]) -> bool:
  platforms = env.get("JAX_PLATFORMS", "") or env.get("JAX_PLATFORM_NAME", "")
  return platforms.strip().lower() == "cpu"


def maybe_initialize(environ: Mapping[str, str] | None = None) -> str | None:
  """Calls `jax.distributed.initialize` as the environment asks (see the module docstring); returns the mode used
  (None: single process, nothing done). Must run before the first JAX computation or device query."""
  env = os.environ if environ is None else environ
  mode = detect_mode(env)
  if mode is None or _already_initialized():
    return None
  if _backends_initialized():
    raise RuntimeError(f"maybe_initialize() (mode {mode!r}) must run before any JAX computation or device query; "
                       "call it first thing in main()")
  kwargs = dict(initialization_timeout=int(env.get(ENV_TIMEOUT, "300")))
  if mode == "explicit":
    kwargs.update(explicit_arguments(env))
    if _cpu_only(env):
      # Cross-process collectives of the CPU backend (psum, all-gather of a multi-process jax.Array).
      jax.config.update("jax_cpu_collectives_implementation", "gloo")
  elif mode == "slurm":
    kwargs["cluster_detection_method"] = "slurm"
    visible = [d for d in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if len(visible) == 1:
      # SLURM bound one GPU to this task (--gpus-per-task=1 / --gpu-bind): it is local device 0, whatever
      # SLURM_LOCALID is (JAX would otherwise pick device SLURM_LOCALID).
      kwargs["local_device_ids"] = [0]
  elif mode == "tpu":
    # Multislice (MEGASCALE_*) and single-slice pods are both found by JAX's TPU detection.
    pass
  logging.info("jax.distributed.initialize(%s) [mode %s]", kwargs, mode)
  jax.distributed.initialize(**kwargs)
  logging.info("process %d of %d; %d local / %d global devices", jax.process_index(), jax.process_count(),
               jax.local_device_count(), jax.device_count())
  return mode
