"""GLUE QNLI and SST-2 (Wang et al. 2019) as the downstream tasks of the LM language (Liu et al. 2023, §3: scaling
at equal pre-training loss gains +2.0 points on them), read through tensorflow-datasets.

Data: `tfds.data_source('glue/qnli' | 'glue/sst2', split, data_dir=data.glue_dir)` (ArrayRecord, random access, no
TensorFlow). GLUE's test split has no labels (−1), so a task's TaskData has its own split:
  test      = GLUE's validation split, whole (QNLI 5,463 and SST-2 872 examples);
  train     = the first 7/8 of n examples drawn without replacement from GLUE's train split with the probe seed,
  selection = the last 1/8 of them (the epoch is chosen on it; the probe's 70/10 proportion).
Text: str or bytes fields (bytes decoded as UTF-8) are tokenised by the decoder's own tokenizer
(flatness_jax.data.text_tokenizer); a decoder id that is a word of S becomes its word id, anything else UNK.
QNLI's question and sentence are joined as question + [SEP] + sentence. Sequences are truncated to the language's
max_length (the model's length), keeping the beginning; an empty text becomes one UNK. Per split, `TaskData.info`
records the examples, the out-of-set rate (UNK among the tokens kept), the fraction truncated, the mean length and
the label counts.

When tensorflow-datasets is missing or GLUE is not prepared under the data dir, the task's `dataset` raises
TaskUnavailableError with a one-line message; the probe and data-card stages then skip that task.
"""
import functools
import logging

import numpy as np

from flatness_jax.data.language import Task, TaskUnavailableError
from flatness_jax.data.task_data import TaskData

TASKS = {  # name: (text fields, class names)
    "qnli": (("question", "sentence"), ("entailment", "not_entailment")),
    "sst2": (("sentence",), ("negative", "positive")),
}
SELECTION_FRACTION = 1 / 8


def as_text(value) -> str:
  """A str from a str, bytes, numpy bytes/str scalar or 0-d array field."""
  if isinstance(value, np.ndarray):
    value = value.item()
  return value.decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)


def data_source(name: str, split: str, data_dir: str = ""):
  """The random-access source of one GLUE split; TaskUnavailableError (one line) when it cannot be read."""
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    import tensorflow_datasets.text.glue  # pylint: disable=g-import-not-at-top,unused-import  (registers 'glue')
  except ImportError:
    raise TaskUnavailableError("GLUE tasks need tensorflow-datasets: pip install -e '.[glue]'") from None
  where = data_dir or "the tensorflow-datasets data dir (TFDS_DATA_DIR or ~/tensorflow_datasets)"
  absl_logger = logging.getLogger("absl")
  level = absl_logger.level
  absl_logger.setLevel(logging.ERROR)  # tfds warns about every version folder it probes
  try:
    return tfds.data_source(f"glue/{name}", split=split, data_dir=data_dir or None, download=False)
  except Exception as e:  # pylint: disable=broad-except  (not prepared, wrong file format, unreadable)
    raise TaskUnavailableError(
        f"GLUE glue/{name} ({split}) is not prepared under {where}: prepare it once with `tfds build glue/{name} "
        f"--file_format=array_record` on a machine with network, then set data.glue_dir "
        f"({type(e).__name__})") from None
  finally:
    absl_logger.setLevel(level)


def read(source, indices) -> list:
  """Examples of `source` at `indices` (random access, one record at a time)."""
  return [source[int(i)] for i in indices]


def encode(language, tokenizer, examples, fields) -> tuple:
  """(tokens int32 [n, L] −1 padded, lengths [n], stats) of examples' text fields in the language's word ids."""
  n, length = len(examples), language.max_length
  segments = [tokenizer.encode_batch([as_text(ex[f]) for ex in examples]) for f in fields]
  table = language.word_of_decoder_id
  tokens = np.full((n, length), -1, np.int32)
  lengths = np.zeros(n, np.int32)
  unk = kept = truncated = 0
  for i in range(n):
    parts = []
    for j, seg in enumerate(segments):
      ids = np.asarray(seg[i], np.int64)
      words = np.where((ids >= 0) & (ids < len(table)), table[np.clip(ids, 0, len(table) - 1)], language.unk_id)
      parts.extend(([language.sep_id] if j else []) + words.tolist())
    parts = parts or [language.unk_id]
    truncated += len(parts) > length
    parts = parts[:length]
    tokens[i, :len(parts)] = parts
    lengths[i] = len(parts)
    unk += sum(w == language.unk_id for w in parts)
    kept += len(parts)
  stats = {"examples": n, "out_of_set_rate": unk / max(kept, 1), "truncated_fraction": truncated / max(n, 1),
           "mean_length": float(lengths.mean()) if n else 0.0}
  return tokens, lengths, stats


def task_data(language, tokenizer, name: str, n: int, seed: int, data_dir: str = "") -> TaskData:
  """The TaskData of GLUE task `name` (module docstring): n train+selection examples from `seed`, validation."""
  fields, classes = TASKS[name]
  train_src, test_src = data_source(name, "train", data_dir), data_source(name, "validation", data_dir)
  n = min(int(n), len(train_src))
  if n < 2:
    raise ValueError(f"GLUE {name}: need at least 2 training examples, got n={n}")
  picked = np.random.default_rng(seed).choice(len(train_src), n, replace=False)
  train = read(train_src, picked)
  test = read(test_src, range(len(test_src)))
  labels = np.array([int(np.asarray(ex["label"])) for ex in train + test], np.int64)
  if labels.min() < 0:
    raise ValueError(f"GLUE {name}: unlabelled examples (label −1) in the train or validation split")
  n_select = max(1, int(round(n * SELECTION_FRACTION)))
  tokens_tr, lengths_tr, stats_tr = encode(language, tokenizer, train, fields)
  tokens_te, lengths_te, stats_te = encode(language, tokenizer, test, fields)
  split = (np.arange(n - n_select), np.arange(n - n_select, n), np.arange(n, n + len(test)))
  info = {"train_and_selection": stats_tr, "test (GLUE validation)": stats_te, "tokenizer": tokenizer.description}
  for part, idx in zip(("train", "selection", "test"), split):
    info.setdefault("label_counts", {})[part] = np.bincount(labels[idx], minlength=len(classes)).tolist()
  return TaskData(tokens=np.concatenate([tokens_tr, tokens_te]), lengths=np.concatenate([lengths_tr, lengths_te]),
                  labels=labels, bayes_predictions=None, num_classes=len(classes), split=split, info=info)


def glue_tasks(language, tokenizer, data_dir: str = "", unavailable: str = "") -> dict:
  """{'qnli': Task, 'sst2': Task} whose `dataset(n, seed)` reads GLUE (module docstring); with `unavailable`
  (e.g. no tokenizer), every dataset call raises TaskUnavailableError with that reason."""

  def make(name):
    @functools.lru_cache(maxsize=4)
    def dataset(n, seed):
      if unavailable:
        raise TaskUnavailableError(f"GLUE {name}: {unavailable}")
      return task_data(language, tokenizer, name, n, seed, data_dir)

    fields, classes = TASKS[name]
    return Task(name=name, num_classes=len(classes), labels=None, bayes_predictions=None,
                description=f"GLUE {name.upper()} ({' + [SEP] + '.join(fields)}); test = GLUE validation",
                class_names=classes, dataset=dataset)

  return {name: make(name) for name in TASKS}
