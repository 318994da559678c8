"""Test helper: run `python -m experiments.main` in a subprocess that signals itself at one precise event.

`main(workdir, *flags, fault=("rename", 8, "SIGKILL"))` runs the tiny config with the fault installed by `install`:
  evaluation  inside the held-out evaluation of step S (Trainer.evaluate)
  chunk       just before the training chunk that starts at step S (the signal arrives while it runs)
  write       inside Orbax's write of checkpoint S: every array written, the commit marker not yet
  rename      at Orbax's final rename of checkpoint S into place
  checksums   after the rename of checkpoint S, before its checksums.json is written
  row         half-way through writing the metrics.jsonl row of step S (a torn line)
  summary     after summary.json's temporary file is written, before it is renamed into place
  no_space    (no signal) the filesystem reports no free space from checkpoint S on: a full disk, simulated
SIGKILL dies there; SIGTERM and SIGINT are delivered there and the run handles them (a stop request).
"""
import os
import signal
import subprocess
import sys
import textwrap

from tests.conftest import REPO_ROOT

TINY = "--config=configs/tiny.py"
_RUNNER = textwrap.dedent("""
    import runpy, sys
    from tests.jobs import faults
    faults.install(sys.argv[1], int(sys.argv[2]), sys.argv[3])
    sys.argv = ["experiments.main"] + sys.argv[4:]
    runpy.run_module("experiments.main", run_name="__main__", alter_sys=True)
""")


def _fire(sig: str):
  os.kill(os.getpid(), getattr(signal, sig))


def install(event: str, step: int, sig: str) -> None:
  """Patches the code so that `sig` is sent to this process at `event` of `step` (module docstring)."""
  # pylint: disable=g-import-not-at-top
  if event == "evaluation":
    from flatness_jax.train import trainer
    original = trainer.Trainer.evaluate

    def evaluate(self, params, s=0):
      if s == step:
        _fire(sig)
      return original(self, params, s)
    trainer.Trainer.evaluate = evaluate
  elif event == "chunk":
    from flatness_jax.train import trainer
    original = trainer.Trainer.run_chunk

    def run_chunk(self, state, a, b):
      if a == step:
        _fire(sig)
      return original(self, state, a, b)
    trainer.Trainer.run_chunk = run_chunk
  elif event in ("write", "rename"):
    from orbax.checkpoint._src.path import async_path
    name = "write_text" if event == "write" else "rename"
    original = getattr(async_path, name)

    async def patched(path, *args, **kw):
      target = str(args[0]) if event == "rename" else str(path)
      parts = target.split(os.sep)
      if (event == "rename" and parts[-1] == str(step)) or (
          event == "write" and parts[-1] == "commit_success.txt" and parts[-3].startswith(f"{step}.")):
        _fire(sig)
      return await original(path, *args, **kw)
    setattr(async_path, name, patched)
  elif event == "checksums":
    from flatness_jax.rundir import integrity
    original = integrity.write_tree

    def write_tree(directory, **extra):
      if os.path.basename(directory) == str(step):
        _fire(sig)
      return original(directory, **extra)
    integrity.write_tree = write_tree
  elif event == "row":
    from flatness_jax.rundir import metrics
    original = metrics.MetricWriter.write

    def write(self, s, values):
      if s == step and self.active:
        self._f.write(b'{"step": ' + str(s).encode() + b', "train_lo')  # pylint: disable=protected-access
        self._f.flush()  # pylint: disable=protected-access
        _fire(sig)
      return original(self, s, values)
    metrics.MetricWriter.write = write
  elif event == "summary":
    original = os.replace

    def replace(src, dst, *args, **kw):
      if str(dst).endswith("summary.json"):
        _fire(sig)
      return original(src, dst, *args, **kw)
    os.replace = replace
  elif event == "no_space":
    from flatness_jax.rundir import checkpoints
    original = os.statvfs

    def statvfs(path):
      info = original(path)
      full = checkpoints.complete_steps(os.path.dirname(os.path.abspath(path))) and step <= max(
          checkpoints.complete_steps(os.path.dirname(os.path.abspath(path))))
      return os.statvfs_result(info[:4] + (0,) + info[5:]) if full else info
    os.statvfs = statvfs
  elif event != "none":
    raise ValueError(f"unknown fault event {event!r}")


def main(workdir, *flags, fault=("none", 0, "SIGKILL"), timeout=300):
  """CompletedProcess of the tiny config in `workdir` with `flags`, with `fault` = (event, step, signal) injected."""
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO_ROOT)
  event, step, sig = fault
  return subprocess.run([sys.executable, "-c", _RUNNER, event, str(step), sig, TINY, f"--workdir={workdir}", *flags],
                        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
