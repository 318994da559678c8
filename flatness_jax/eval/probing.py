"""Linear-probe accuracies of a run's checkpoints: `Prober(run, cfg)` (the 'probes' job, flatness_jax.jobs.probes,
writes them to <run>/probes.json).

For each task of the run's language and each chosen checkpoint: frozen-encoder features of a fixed labelled set
(`num_examples` sentences from the run's probe seed, `probe_seed`: `seed` itself, or for a run of an experiment's
arm its own stream derived from it; split 70/10/20 into train/validation/test), a linear probe trained with the
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

import numpy as np

from flatness_jax.data import task_data
from flatness_jax.eval import finetune as finetune_lib, lookup, probe as probe_lib
from flatness_jax.models import readout
from flatness_jax.rundir import fields
from flatness_jax.tokens import batching
from flatness_jax.train import arms


def reference_accuracies(data: task_data.TaskData, test_idx, train_idx) -> dict:
  """Majority-class (by the training split's majority) and Bayes-optimal accuracies on the test split (None where
  the Bayes predictions are unknown: external text), plus what the task data records about itself."""
  majority = np.bincount(data.labels[train_idx], minlength=data.num_classes).argmax()
  bayes = (float(np.mean(data.bayes_predictions[test_idx] == data.labels[test_idx]))
           if data.bayes_predictions is not None else None)
  return {"majority_accuracy": float(np.mean(data.labels[test_idx] == majority)), "bayes_accuracy": bayes,
          "num_classes": data.num_classes, "num_test": int(len(test_idx)), **data.info}


def train_probe(feats, data, split, cfg) -> dict:
  """The paper's linear probe (flatness_jax.eval.probe) trained on `feats` with the split's parts: its result dict."""
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
  """({task: TaskData}, {task: reason}) — tasks whose external data cannot be read are skipped, saying why."""
  datasets, skipped = {}, {}
  for t in names:
    try:
      datasets[t] = task_data.task_dataset(language, t, n, seed)
    except task_data.TaskUnavailableError as e:
      skipped[t] = str(e)
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


def probe_seed(base: int, run_config) -> int:
  """The seed of a run's labelled sentences and split: for a run of an experiment's arm, its own stream
  (train.arms.stream_seed of `base`, the arm and the replicate: the runs are independent replicates), else `base`."""
  arm = run_config.get("arm", "")
  return arms.stream_seed(base, arm, int(run_config.get("replicate", 0)), "probes") if arm else int(base)


class Prober:
  """The labelled sets, splits and references of one run's probes (config.probes = `cfg`); `measure(step)` probes
  (and optionally fine-tunes) one checkpoint."""

  def __init__(self, run, cfg):
    self.run, self.cfg = run, cfg
    lang = run.language
    self.seed = probe_seed(cfg.seed, run.config)
    self.datasets, self.skipped = task_datasets(lang, task_names(lang, cfg.tasks), cfg.num_examples, self.seed)
    self.names = list(self.datasets)
    self.splits = {t: d.split if d.split is not None else probe_lib.split_indices(cfg.num_examples, (0.7, 0.1, 0.2),
                                                                                  self.seed)
                   for t, d in self.datasets.items()}
    self.finetuning = cfg.get("finetune", False)
    self.ft_splits = ({t: finetune_parts(self.datasets[t], self.splits[t], cfg) for t in self.names}
                      if self.finetuning else {})

  def references(self) -> dict:
    """{task: majority / Bayes accuracies on its test split, class count, ...}."""
    return {t: reference_accuracies(self.datasets[t], self.splits[t][2], self.splits[t][0]) for t in self.names}

  def lookup(self, task: str):
    """The lookup-table baseline of a task (the probe on the exact conditionals), or None where it has none
    (tasks on external text, or `lookup` off)."""
    lang = self.run.language
    if not self.cfg.lookup or lang.tasks[task].dataset is not None:
      return None
    d = self.datasets[task]
    return train_probe(lookup.lookup_features(lang, d.tokens, d.lengths), d, self.splits[task], self.cfg)

  def measure(self, step: int) -> dict:
    """{task: probe result, 'seconds', and with fine-tuning 'finetune': {task: result}} of checkpoint `step`."""
    t0 = time.time()
    run, cfg, lang = self.run, self.cfg, self.run.language
    params = run.params(step)
    row = {}
    for t in self.names:
      d = self.datasets[t]
      feats = readout.encoder_features(run.model, params, d.tokens, d.lengths, lang.vocab_size, cfg.pooling)
      row[t] = train_probe(feats, d, self.splits[t], cfg)
    row["seconds"] = time.time() - t0
    if self.finetuning:
      row["finetune"] = {t: finetune_task(run.model, params, self.datasets[t], self.ft_splits[t], lang.vocab_size,
                                          cfg) for t in self.names}
    return row
