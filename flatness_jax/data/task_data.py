"""Labelled sentences of a downstream task: what probes, fine-tuning and the adversary train and test on.

`task_dataset(language, task, n, seed)` draws n sentences from `seed` with the task's labels and its Bayes-optimal
predictions (the exact-posterior argmax), so every accuracy table can show the ceiling next to the probe.
"""
import dataclasses

import jax
import numpy as np


@dataclasses.dataclass
class TaskData:
  tokens: np.ndarray             # int32 [n, L], padded with −1 after `lengths`
  lengths: np.ndarray            # int32 [n]
  labels: np.ndarray             # int [n] in 0..num_classes−1
  bayes_predictions: np.ndarray  # int [n]: argmax of the exact posterior of the label
  num_classes: int


def task_dataset(language, task_name: str, n: int, seed: int) -> TaskData:
  """`n` sentences drawn from `seed` with labels of `language.tasks[task_name]`."""
  if task_name not in language.tasks:
    raise ValueError(f"unknown task {task_name!r}; tasks of {language.name}: {sorted(language.tasks)}")
  task = language.tasks[task_name]
  sample = language.sample(jax.random.key(seed), n)
  return TaskData(tokens=np.asarray(sample.tokens), lengths=np.asarray(sample.lengths),
                  labels=np.asarray(task.labels(sample)), bayes_predictions=np.asarray(task.bayes_predictions(sample)),
                  num_classes=int(task.num_classes))
