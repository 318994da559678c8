"""The 'curvature' job (configs/curvature.py): the chosen checkpoints of a run measured by
flatness_jax.eval.curvature, recorded in <run>/curvature.json (earlier steps kept), one line printed per step;
`correlatable_measures`, the experiment-level choice of what the pipeline measures (flatness_jax.jobs.pipeline)."""
import copy

import jax
from absl import logging

from flatness_jax.analysis import gates
from flatness_jax.eval import curvature as curvature_lib
from flatness_jax.rundir import jsonio, layout, lock, rundir
from flatness_jax.train import arms as arms_lib


def correlatable_measures(config) -> tuple:
  """(config, note) for an experiment config. The sharpness measures and the probe loss's Tr(H) enter a report only
  through correlations over pre-training runs (flatness_jax.analysis.measures; findings' downstream_flatness), which
  need ≥ gates.MIN_CLUSTERS runs. With `curvature.only_if_correlatable` an experiment of fewer runs (arms × seeds)
  measures neither: a copy of `config` with curvature.sharpness and curvature.tasks empty, and a one-line note
  saying so and how many seeds per arm measure them. Otherwise `config` itself and None."""
  cfg = config.get("curvature")
  if not cfg or not cfg.get("only_if_correlatable", False) or not (cfg.get("sharpness") or cfg.get("tasks")):
    return config, None
  runs = len(arms_lib.run_configs(config))
  if runs >= gates.MIN_CLUSTERS:
    return config, None
  out = copy.deepcopy(config)
  out.curvature.sharpness = out.curvature.tasks = ""
  seeds = -(-gates.MIN_CLUSTERS // len(arms_lib.selected_arms(config)))
  return out, (f"curvature: {runs} runs, fewer than the {gates.MIN_CLUSTERS} a correlation over runs needs: no "
               f"sharpness measures and no probe-loss Tr(H) (curvature.only_if_correlatable; {seeds} seeds per arm "
               "measure them)")


def run_curvature(config, workdir: str, label: str = "") -> dict:
  """Measures the checkpoints `config.curvature.steps` of the run in `workdir`; returns {step: Curvature}. `label`
  (the run's name, when runs are measured at once) starts each printed line."""
  run = rundir.RunDir(workdir)
  cfg = config.curvature
  steps = run.select_steps(cfg.steps)
  measurer = curvature_lib.Measurer(run, cfg)
  with lock.writer_lock(workdir):
    path = run.path(layout.CURVATURE)
    doc = {"config": cfg.to_dict(), "steps": jsonio.read_json(path, {}).get("steps", {})}  # keep earlier steps
    key = jax.random.key(cfg.seed)
    measured = {}
    for step in steps:
      logging.info("curvature of %s at step %d", workdir, step)
      step_key = key if cfg.get("same_probes", False) else jax.random.fold_in(key, step)
      c = measured[step] = measurer.measure(step, step_key)
      doc["steps"][str(step)] = c.to_json()
      if jsonio.is_writer():
        jsonio.write_json_atomic(path, doc)
      head = label + ": " if label else ""
      print(f"{head}step {step}: Tr(H) " + ", ".join(f"{m} {e.value:.3f}±{e.stderr:.3f}" for m, e in c.hessian.items())
            + (f", embedded {c.embedded.value:.3f}±{c.embedded.stderr:.3f}" if c.embedded.present else "")
            + f"; Fisher {c.fisher.value:.3f}±{c.fisher.stderr:.3f}; λmax {c.lambda_max.value:.3f}")
  return measured
