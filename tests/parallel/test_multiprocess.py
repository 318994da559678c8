"""Two local processes x 2 CPU devices behave as one process with 4 devices (launch/local_multiprocess.sh).

1. Training: `python -m experiments.main --config=configs/tiny.py` on 2 processes x 2 devices gives the held-out
   losses of the same run on 1 process x 4 devices to a relative 1e-6 (float32; gloo's all-reduce may sum in
   another order than the in-process one: measured 1.6e-8), and only process 0 wrote records: one metrics.jsonl
   row per step, the same files as the one-process run (checkpoints hold per-process shards). 4 devices = 1 device
   is tests/train/test_loop.py's test.
2. Curvature: a Hutchinson estimate of tr ∇²L on FSDP-sharded parameters with the same key uses the same probes
   (a pure function of the key, whatever the sharding), so the value agrees across the set-ups to 1e-5.
"""
import json
import os
import subprocess
import textwrap

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.multiprocess

LAUNCHER = os.path.join(REPO_ROOT, "launch", "local_multiprocess.sh")


def _launch(num_processes, devices, args, *, log_dir, module="experiments.main", extra_path=None, timeout=240):
  """Runs MODULE ARGS on `num_processes` local processes; returns the per-process logs (asserts success)."""
  env = dict(os.environ)
  if extra_path:
    env["PYTHONPATH"] = extra_path
  proc = subprocess.run([LAUNCHER, f"--module={module}", f"--log-dir={log_dir}", str(num_processes), str(devices),
                         "--", *args], env=env, capture_output=True, text=True, timeout=timeout)
  logs = [open(os.path.join(log_dir, f"process_{i}.log")).read() for i in range(num_processes)]
  assert proc.returncode == 0, proc.stderr + "\n\n".join(logs)
  return logs


def _files(workdir):
  """Relative paths of the records in a run directory (checkpoint and TensorBoard internals summarised)."""
  out = set()
  for root, _, names in os.walk(workdir):
    rel = os.path.relpath(root, workdir)
    top = rel.split(os.sep)[0]
    if top == "checkpoints":
      parts = rel.split(os.sep)
      if len(parts) >= 2:
        out.add(os.path.join("checkpoints", parts[1]))  # the saved steps
      continue
    for n in names:
      out.add(os.path.join(rel, "events.*") if n.startswith("events.") else os.path.normpath(os.path.join(rel, n)))
  return out


def _eval_losses(workdir):
  rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  steps = [r["step"] for r in rows]
  assert len(steps) == len(set(steps)), f"duplicate metric rows: {steps}"
  return {r["step"]: r["eval_loss"] for r in rows if "eval_loss" in r}


@pytest.mark.slow  # trains a model on two processes and on one: CI runs it in .ci/run's slow step
def test_training_two_processes_equals_one(tmp_path):
  args = ["--config=configs/tiny.py"]
  runs = {}
  for name, (n, d) in {"2x2": (2, 2), "1x4": (1, 4)}.items():
    workdir = str(tmp_path / name)
    _launch(n, d, args + [f"--workdir={workdir}"], log_dir=str(tmp_path / f"logs_{name}"))
    runs[name] = workdir
  losses = {name: _eval_losses(w) for name, w in runs.items()}
  assert sorted(losses["2x2"]) == sorted(losses["1x4"]) and len(losses["1x4"]) >= 3
  for step, value in losses["2x2"].items():
    assert value == pytest.approx(losses["1x4"][step], rel=1e-6), step
  assert _files(runs["2x2"]) == _files(runs["1x4"])
  assert len(os.listdir(os.path.join(runs["2x2"], "tensorboard"))) == 1  # one writer
  rows = [json.loads(line) for line in open(os.path.join(runs["2x2"], "metrics.jsonl"))]
  rows_1 = [json.loads(line) for line in open(os.path.join(runs["1x4"], "metrics.jsonl"))]
  assert [r["step"] for r in rows] == [r["step"] for r in rows_1]


HESSIAN_SCRIPT = """
import json
import sys
from flatness_jax.parallel import distributed
distributed.maybe_initialize()
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flatness_jax import models
from flatness_curvature import hessian_trace
from flatness_jax.parallel import mesh as mesh_lib

VOCAB, LENGTH, BATCH = 50, 16, 32


class TinyMlp(nn.Module):
  \"\"\"Embedding -> mean over positions -> GELU MLP -> logits: few leaves (fast to compile), 'embed'-sharded.\"\"\"
  @nn.compact
  def __call__(self, tokens, positions):
    init = lambda names: nn.with_logical_partitioning(nn.initializers.normal(0.3), names)
    emb = self.param("embed", init(("vocab", "embed")), (VOCAB + 2, 32))
    h = emb[tokens].mean(1) + emb[tokens[jnp.arange(tokens.shape[0]), positions]]
    h = nn.gelu(nn.Dense(64, kernel_init=init(("embed", "mlp")))(h))
    return nn.Dense(VOCAB, kernel_init=init(("mlp", "embed")))(h)


if sys.argv[1] == "bert":
  cfg = models.default_model_config()
  cfg.preset = "cpu_tiny"
  model = models.make_model(cfg, VOCAB, LENGTH)
else:
  model = TinyMlp()
mesh = mesh_lib.make_mesh(1)
tokens0, positions0 = jnp.zeros((1, LENGTH), jnp.int32), jnp.zeros((1,), jnp.int32)
boxed = jax.eval_shape(lambda k: model.init(k, tokens0, positions0)["params"], jax.random.key(0))
shardings = mesh_lib.param_shardings(boxed, mesh, fsdp=True)
params = jax.jit(lambda k: nn.unbox(model.init(k, tokens0, positions0)["params"]),
                 out_shardings=shardings)(jax.random.key(0))
rng = np.random.default_rng(0)
host = {"inputs": rng.integers(0, VOCAB, (BATCH, LENGTH)).astype(np.int32),
        "positions": rng.integers(0, LENGTH, (BATCH,)).astype(np.int32),
        "targets": rng.integers(0, VOCAB, (BATCH,)).astype(np.int32)}
host["inputs"][np.arange(BATCH), host["positions"]] = VOCAB + 1  # the MASK token
per = BATCH // jax.process_count()
rows = slice(jax.process_index() * per, (jax.process_index() + 1) * per)
data = mesh_lib.batch_sharding(mesh)
batch = {k: jax.make_array_from_process_local_data(data, v[rows], v.shape) for k, v in host.items()}


def loss_fn(p, b):
  logits = model.apply({"params": p}, b["inputs"], b["positions"]).astype(jnp.float32)
  return optax.softmax_cross_entropy_with_integer_labels(logits, b["targets"]).mean()


sharded = sum(1 for x in jax.tree.leaves(params) if not x.sharding.is_fully_replicated)
est = hessian_trace(loss_fn, params, batch, jax.random.key(7), num_matvecs=4, chunk_size=4)
print("RESULT " + json.dumps({"process": jax.process_index(), "devices": jax.device_count(),
                              "sharded_leaves": sharded, "value": float(est.value),
                              "stderr": float(est.stderr)}))
"""


def _hessian_results(tmp_path, model):
  (tmp_path / "hessian_probe.py").write_text(textwrap.dedent(HESSIAN_SCRIPT))
  results = {}
  for name, (n, d) in {"2x2": (2, 2), "1x4": (1, 4)}.items():
    logs = _launch(n, d, [model], log_dir=str(tmp_path / f"logs_{name}"), module="hessian_probe",
                   extra_path=str(tmp_path))
    results[name] = [json.loads(line[len("RESULT "):]) for log in logs for line in log.splitlines()
                     if line.startswith("RESULT ")]
    assert len(results[name]) == n
  return results


@pytest.mark.parametrize("model", ["mlp", pytest.param("bert", marks=pytest.mark.slow)])
def test_hessian_trace_two_processes_equals_one(tmp_path, model):
  """Same key => same probes => the same estimate on 2 processes x 2 devices as on 1 process x 4 devices.

  'mlp' (default tier) is a 4-leaf embedding + MLP model; 'bert' (slow: ~3 min on 2 busy cores, nearly all of it
  compiling the estimator's per-leaf probe generation) is the cpu_tiny BERT preset.
  """
  results = _hessian_results(tmp_path, model)
  assert [r["devices"] for r in results["2x2"]] == [4, 4]
  assert results["2x2"][0]["sharded_leaves"] > 0  # FSDP really split parameters over the processes' devices
  ref = results["1x4"][0]
  for r in results["2x2"]:
    assert r["value"] == pytest.approx(ref["value"], rel=1e-5)
    assert r["stderr"] == pytest.approx(ref["stderr"], rel=1e-3)
  assert ref["value"] != 0 and ref["stderr"] > 0


@pytest.mark.slow
def test_sigterm_to_one_process_stops_both_at_one_step_with_its_checkpoint(tmp_path):
  """Preemption of one host: SIGTERM reaches process 1 only; both processes agree on the step, checkpoint it, exit
  75; the launcher returns 75; the same command resumes and finishes with every step recorded once."""
  import signal  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  wd, logs = str(tmp_path / "run"), str(tmp_path / "logs")
  args = ["--config=configs/tiny.py", f"--workdir={wd}", "--config.train.num_steps=600",
          "--config.checkpoint.every=300", "--config.eval.every=300"]
  launcher = subprocess.Popen([LAUNCHER, f"--log-dir={logs}", "2", "1", "--", *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
  metrics = os.path.join(wd, "metrics.jsonl")
  deadline = time.time() + 300
  while time.time() < deadline and not (os.path.exists(metrics) and len(open(metrics).readlines()) > 12):
    time.sleep(0.2)
  children = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True).stdout.split()
  procs = {open(f"/proc/{pid}/environ", "rb").read().split(b"JAX_PROCESS_ID=")[1].split(b"\0")[0]: int(pid)
           for pid in children}
  os.kill(procs[b"1"], signal.SIGTERM)
  _, err = launcher.communicate(timeout=300)
  assert launcher.returncode == 75, err
  lines = [open(os.path.join(logs, f"process_{i}.log")).read().strip().splitlines()[-1] for i in range(2)]
  step = int(lines[1].split(" at step ")[1].split()[0])
  assert lines == [f"{wd}: stopped by SIGTERM at step {step} with its checkpoint saved; run the same command again "
                   "to resume"] * 2, lines
  assert step in [int(s) for s in os.listdir(os.path.join(wd, "checkpoints")) if s.isdigit()]
  _launch(2, 1, args, log_dir=logs)
  steps = [json.loads(line)["step"] for line in open(metrics)]
  assert steps[-1] == 600 and len(steps) == len(set(steps))
