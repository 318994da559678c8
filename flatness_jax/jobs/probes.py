"""The 'probes' job (configs/probes.py): linear probes (and optionally fine-tuning) of a run's chosen checkpoints by
flatness_jax.eval.probing, recorded in <run>/probes.json with each task's majority / Bayes / lookup-table references
(earlier steps and lookup results kept), one line printed per step."""
from absl import logging

from flatness_jax.eval import probing
from flatness_jax.rundir import jsonio, layout, lock, records, rundir


def _accuracy_line(row, names):
  accuracies = {t: records.ProbeAccuracy.from_json(row[t]) for t in names}
  return ", ".join(f"{t} {100 * a.mean:.1f}±{100 * a.std:.1f}" for t, a in accuracies.items())


def run_probes(config, workdir: str, label: str = "") -> dict:
  """Probes the checkpoints `config.probes.steps` of the run in `workdir`; returns the probes.json document.
  `label` (the run's name, when runs are probed at once) starts each printed line."""
  head = label + ": " if label else ""
  cfg = config.probes
  run = rundir.RunDir(workdir)
  steps = run.select_steps(cfg.steps)
  prober = probing.Prober(run, cfg)
  for t, why in prober.skipped.items():
    print(f"{head}probes: task {t} skipped: {why}")
  with lock.writer_lock(workdir):
    path = run.path(layout.PROBES)
    doc = jsonio.read_json(path, {})
    doc.update({"config": cfg.to_dict(), "tasks": {}, "lookup": doc.get("lookup", {}), "skipped": prober.skipped})
    doc.setdefault("steps", {})
    if prober.names:
      doc["tasks"] = prober.references()
      for t in prober.names:
        if t not in doc["lookup"]:
          result = prober.lookup(t)
          if result is not None:
            doc["lookup"][t] = result
    for step in steps if prober.names else []:
      row = doc["steps"][str(step)] = prober.measure(step)
      logging.info("probes of %s at step %d: %s", workdir, step, _accuracy_line(row, prober.names))
      print(f"{head}step {step}: " + _accuracy_line(row, prober.names))
      if "finetune" in row:
        print(f"{head}step {step} finetune: " + _accuracy_line(row["finetune"], prober.names))
      if jsonio.is_writer():
        jsonio.write_json_atomic(path, doc)
    if jsonio.is_writer():
      jsonio.write_json_atomic(path, doc)
  return doc
