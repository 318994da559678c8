"""Linear-probe accuracies of a run's checkpoints → `<run>/probes.json` (the 'probes' job).

For each task of the run's language and each chosen checkpoint: frozen-encoder features of a fixed labelled set
(`num_examples` sentences from `seed`, split 70/10/20 into train/validation/test), a linear probe trained with the
paper's protocol (AdamW lr 1e-3, `epochs` epochs, `seeds` seeds; test accuracy at the validation-selected epoch),
reported as mean ± std over seeds. Every task also carries its majority-class and Bayes-optimal accuracies on
the same test split, and the lookup-table baseline (the same probe on the exact conditionals p(· | x_{−t}) of
every position; Liu et al. 2023 §3) when `lookup` is on.

With `finetune` on, every checkpoint is also fine-tuned whole (encoder and a fresh linear head; the paper's
protocol, flatness_jax.eval.finetune) on the first `finetune_examples` sentences of each part of the same split,
and `steps[step]["finetune"][task]` holds the same accuracy keys as a probe entry plus its "seconds". Probe entries
`steps[step][task]` are unchanged (readers take task names from `tasks`, so the extra "finetune" key is inert).
"""
import time

from absl import logging
import numpy as np

from flatness_jax.data import batching, task_data
from flatness_jax.eval import finetune as finetune_lib, lookup, probe as probe_lib
from flatness_jax.models import readout
from flatness_jax.rundir import fields, jsonio, lock, rundir


def reference_accuracies(data: task_data.TaskData, test_idx, train_idx) -> dict:
  """Majority-class (by the training split's majority) and Bayes-optimal accuracies on the test split (None where
  the Bayes predictions are unknown: external text), plus what the task data records about itself."""
  majority = np.bincount(data.labels[train_idx], minlength=data.num_classes).argmax()
  bayes = (float(np.mean(data.bayes_predictions[test_idx] == data.labels[test_idx]))
           if data.bayes_predictions is not None else None)
  return {"majority_accuracy": float(np.mean(data.labels[test_idx] == majority)), "bayes_accuracy": bayes,
          "num_classes": data.num_classes, "num_test": int(len(test_idx)), **data.info}


def probe_features(feats, data, split, cfg):
  tr, va, te = split
  res = probe_lib.train_linear_probe((feats[tr], data.labels[tr]), (feats[va], data.labels[va]),
                                     (feats[te], data.labels[te]), data.num_classes,
                                     seeds=tuple(range(cfg.seeds)), epochs=cfg.epochs,
                                     learning_rate=cfg.learning_rate, batch_size=cfg.batch_size)
  return res.as_dict()


def finetune_split(split, num_examples: int, total: int):
  """The first round(0.7 m), round(0.1 m) and the remaining indices of the probe's train/validation/test parts.

  m = num_examples. With m = total (the probe set's size) this is the probe's own split; any m keeps it disjoint,
  in the same proportions.
  """
  m = int(num_examples)
  if not 0 < m <= total:
    raise ValueError(f"probes.finetune_examples must be in [1, num_examples={total}], got {num_examples}")
  a, b = int(round(0.7 * m)), int(round(0.1 * m))
  if min(a, b, m - a - b) < 1:
    raise ValueError(f"probes.finetune_examples={m} leaves an empty train/validation/test part (use >= 10)")
  tr, va, te = split
  return tr[:a], va[:b], te[:m - a - b]


def finetune_parts(data: task_data.TaskData, split, cfg):
  """`finetune_split` of the probe split; a task with its own split (GLUE) keeps its whole test part."""
  if data.split is None:
    return finetune_split(split, cfg.finetune_examples, cfg.num_examples)
  tr, va, te = split
  m = min(cfg.finetune_examples, len(tr) + len(va))
  a = min(len(tr), int(round(0.875 * m)))
  return tr[:a], va[:max(1, m - a)], te


def task_datasets(language, names, n: int, seed: int):
  """({task: TaskData}, {task: reason}) — tasks whose external data cannot be read are skipped with a line each."""
  datasets, skipped = {}, {}
  for t in names:
    try:
      datasets[t] = task_data.task_dataset(language, t, n, seed)
    except task_data.TaskUnavailableError as e:
      skipped[t] = str(e)
      print(f"probes: task {t} skipped: {e}")
  return datasets, skipped


def finetune_task(model, params, data, split, vocab_size, cfg):
  """The fine-tuning result dict of one task (probe keys + 'seconds') on `split` of `data`."""
  t0 = time.time()
  inputs = np.asarray(batching.model_inputs(data.tokens, data.lengths, vocab_size))
  parts = [(inputs[i], data.lengths[i], data.labels[i]) for i in split]
  res = finetune_lib.finetune(model, params, *parts, data.num_classes, seeds=tuple(range(cfg.finetune_seeds)),
                              epochs=cfg.finetune_epochs, learning_rate=cfg.finetune_learning_rate,
                              batch_size=cfg.finetune_batch_size, pooling=cfg.finetune_pooling)
  return {**res.as_dict(), "seconds": time.time() - t0}


def task_names(language, tasks: str) -> list[str]:
  names = list(language.tasks) if tasks == "all" else fields.split_list(tasks)
  unknown = [t for t in names if t not in language.tasks]
  if unknown:
    raise ValueError(f"probes.tasks: unknown {unknown}; tasks of {language.name}: {sorted(language.tasks)}")
  return names


def _accuracy_line(row, names):
  return ", ".join(f"{t} {100 * row[t]['accuracy_mean']:.1f}±{100 * row[t]['accuracy_std']:.1f}" for t in names)


def run_probes(config, workdir: str) -> dict:
  """The 'probes' job on the run directory `workdir` (under its writer lock)."""
  with lock.writer_lock(workdir):
    return _run_probes(config, workdir)


def _run_probes(config, workdir: str) -> dict:
  cfg = config.probes
  run = rundir.RunDir(workdir)
  lang = run.language
  steps = run.select_steps(cfg.steps)
  path = run.path(rundir.PROBES)
  result = jsonio.read_json(path, {})
  datasets, skipped = task_datasets(lang, task_names(lang, cfg.tasks), cfg.num_examples, cfg.seed)
  names = list(datasets)
  result.update({"config": cfg.to_dict(), "tasks": {}, "lookup": result.get("lookup", {}), "skipped": skipped})
  result.setdefault("steps", {})
  splits = {t: d.split if d.split is not None else probe_lib.split_indices(cfg.num_examples, (0.7, 0.1, 0.2),
                                                                           cfg.seed)
            for t, d in datasets.items()}
  finetuning = cfg.get("finetune", False)
  if finetuning:
    ft_splits = {t: finetune_parts(datasets[t], splits[t], cfg) for t in names}
  if not names:
    if jsonio.is_writer():
      jsonio.write_json_atomic(path, result)
    return result
  for t in names:
    result["tasks"][t] = reference_accuracies(datasets[t], splits[t][2], splits[t][0])
    if cfg.lookup and lang.tasks[t].dataset is None and t not in result["lookup"]:
      d = datasets[t]
      result["lookup"][t] = probe_features(lookup.lookup_features(lang, d.tokens, d.lengths), d, splits[t], cfg)
  for step in steps:
    t0 = time.time()
    params = run.params(step)
    row = {}
    for t in names:
      d = datasets[t]
      feats = readout.encoder_features(run.model, params, d.tokens, d.lengths, lang.vocab_size, cfg.pooling)
      row[t] = probe_features(feats, d, splits[t], cfg)
    row["seconds"] = time.time() - t0
    result["steps"][str(step)] = row
    logging.info("probes of %s at step %d: %s", workdir, step,
                 {t: round(row[t]["accuracy_mean"], 4) for t in names})
    print(f"step {step}: " + _accuracy_line(row, names))
    if finetuning:
      ft = row["finetune"] = {t: finetune_task(run.model, params, datasets[t], ft_splits[t], lang.vocab_size, cfg)
                              for t in names}
      logging.info("fine-tuning of %s at step %d: %s", workdir, step,
                   {t: round(ft[t]["accuracy_mean"], 4) for t in names})
      print(f"step {step} finetune: " + _accuracy_line(ft, names))
    if jsonio.is_writer():
      jsonio.write_json_atomic(path, result)
  if jsonio.is_writer():
    jsonio.write_json_atomic(path, result)
  return result
