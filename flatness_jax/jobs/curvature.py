"""The 'curvature' job (configs/curvature.py): the chosen checkpoints of a run measured by
flatness_jax.eval.curvature, recorded in <run>/curvature.json (earlier steps kept), one line printed per step."""
import jax
from absl import logging

from flatness_jax.eval import curvature as curvature_lib
from flatness_jax.rundir import jsonio, layout, lock, rundir


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
