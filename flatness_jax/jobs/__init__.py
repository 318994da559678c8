"""The jobs: the only layer that takes a run directory's writer lock, writes its files and prints.

Each job is `fn(config, workdir)`, named by `config.job` (experiments/main.py runs it): the layers below compute
and return values, and the job records them. `run(config, workdir)` looks the job up; imports are lazy so one job's
dependencies do not slow another's start.

  data_card     data_card.run_data_card     exact optimal loss, lengths, task ceilings → data_card.json
  train         train.run_train             pre-training with held-out gap → a run directory
  curvature     curvature.run_curvature     Tr(H), Fisher, λmax, embedded and downstream traces → curvature.json
  probes        probes.run_probes           linear probes (and fine-tuning) → probes.json
  report        report.run_report           report.md + figures from run directories
  theory_drift  theory.run_theory_drift     Theorem 4.3 on a model with a known minimiser manifold
  quickstart    pipeline.run_quickstart     the stages above in order, for every arm and seed of an experiment
  tier          tier.run_tier               every experiment × language of a tier (configs/paper.py), then results/
  results       results.run_results         results/ rebuilt from its committed compact records
"""
import importlib

JOBS = {
    "data_card": "data_card:run_data_card",
    "train": "train:run_train",
    "curvature": "curvature:run_curvature",
    "probes": "probes:run_probes",
    "report": "report:run_report",
    "theory_drift": "theory:run_theory_drift",
    "quickstart": "pipeline:run_quickstart",
    "tier": "tier:run_tier",
    "results": "results:run_results",
}


def run(config, workdir: str):
  """Runs the job named by `config.job`; an unknown name raises ValueError with the list of known jobs."""
  name = config.get("job")
  if name not in JOBS:
    raise ValueError(f"config.job={name!r} is not a known job; known jobs: {sorted(JOBS)}")
  module_name, fn_name = JOBS[name].split(":")
  fn = getattr(importlib.import_module(f"{__name__}.{module_name}"), fn_name)
  return fn(config, workdir)
