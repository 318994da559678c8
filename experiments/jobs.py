"""Registry from `config.job` to the function that runs it: fn(config, workdir) -> None.

Each job lives in an importable module of flatness_jax; this table is the only place that names them, so
experiments/main.py stays short. Imports are lazy so one job's dependencies do not slow another's start.
"""
import importlib

JOBS = {
    "data_card": "flatness_jax.data.card:run_data_card",
    "train": "flatness_jax.train.loop:run_train",
    "quickstart": "flatness_jax.pipeline:run_quickstart",
    "curvature": "flatness_jax.eval.curvature_run:run_curvature",
    "probes": "flatness_jax.eval.probe_run:run_probes",
    "report": "flatness_jax.analysis.report:run_report",
    "theory_drift": "flatness_jax.theory.job:run_theory_drift",
}


def run(config, workdir):
  """Runs the job named by `config.job`; an unknown name raises with the list of known jobs."""
  name = config.get("job")
  if name not in JOBS:
    raise ValueError(f"config.job={name!r} is not a known job; known jobs: {sorted(JOBS)}")
  module_name, fn_name = JOBS[name].split(":")
  fn = getattr(importlib.import_module(module_name), fn_name)
  return fn(config, workdir)
