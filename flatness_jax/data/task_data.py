"""Labelled sentences of a downstream task: what probes, fine-tuning and the adversary train and test on.

`task_dataset(language, task, n, seed)` draws n sentences from `seed` with the task's labels and its Bayes-optimal
predictions (the exact-posterior argmax), so every accuracy table can show the ceiling next to the probe. A task on
external text (`Task.dataset`, GLUE for the LM language) returns its own TaskData instead: no Bayes predictions,
its own train/selection/test `split`, and what its text looked like in `info`.
"""
import dataclasses
from typing import Optional

import jax
import numpy as np

from flatness_jax.data.language import TaskUnavailableError  # noqa: F401  (raised by Task.dataset)


@dataclasses.dataclass
class TaskData:
  tokens: np.ndarray             # int32 [n, L], padded with −1 after `lengths`
  lengths: np.ndarray            # int32 [n]
  labels: np.ndarray             # int [n] in 0..num_classes−1
  bayes_predictions: Optional[np.ndarray]  # int [n]: argmax of the exact posterior of the label (None: unknown)
  num_classes: int
  split: Optional[tuple] = None  # (train, selection, test) index arrays fixed by the data (None: the caller splits)
  info: dict = dataclasses.field(default_factory=dict)  # e.g. out-of-set token rates of external text


def task_dataset(language, task_name: str, n: int, seed: int) -> TaskData:
  """`n` sentences drawn from `seed` with labels of `language.tasks[task_name]`."""
  if task_name not in language.tasks:
    raise ValueError(f"unknown task {task_name!r}; tasks of {language.name}: {sorted(language.tasks)}")
  task = language.tasks[task_name]
  if task.dataset is not None:
    return task.dataset(n, seed)
  sample = language.sample(jax.random.key(seed), n)
  return TaskData(tokens=np.asarray(sample.tokens), lengths=np.asarray(sample.lengths),
                  labels=np.asarray(task.labels(sample)), bayes_predictions=np.asarray(task.bayes_predictions(sample)),
                  num_classes=int(task.num_classes))
