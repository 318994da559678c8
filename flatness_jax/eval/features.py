"""Probe datasets and the features probes read.

- `task_dataset(language, task, n, seed)`: n sentences with the task's labels (and the Bayes-optimal predictions,
  so every accuracy table can show the ceiling).
- `encoder_features(model, params, tokens, lengths)`: the frozen encoder's final-layer token representations,
  padding zeroed, concatenated over positions ([n, L·d], Liu et al. 2023 §3) or mean-pooled over real tokens
  ([n, d]). The encoder runs in inference mode and sees no [MASK].
- `lookup_features(language, tokens, lengths)`: the lookup-table baseline — the exact conditional vectors
  p(· | x_{−t}) of every position, concatenated ([n, L·V]); its pre-training loss is optimal by construction.
"""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from flatness_jax.data import batching


@dataclasses.dataclass
class TaskData:
  tokens: np.ndarray
  lengths: np.ndarray
  labels: np.ndarray
  bayes_predictions: np.ndarray
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


def model_inputs(tokens, lengths, vocab_size: int) -> np.ndarray:
  """Token ids with padding mapped to PAD (no mask): what the frozen encoder reads."""
  tokens, lengths = np.asarray(tokens), np.asarray(lengths)
  real = np.arange(tokens.shape[1])[None] < lengths[:, None]
  return np.where(real, tokens, batching.pad_id(vocab_size)).astype(np.int32)


def encoder_features(model, params, tokens, lengths, vocab_size: int, pooling: str = "concat",
                     batch_size: int = 512) -> np.ndarray:
  """Frozen final-layer representations: 'concat' → [n, L·d] (padding zeroed), 'mean' → [n, d]."""
  if pooling not in ("concat", "mean"):
    raise ValueError(f"pooling={pooling!r}; choose 'concat' or 'mean'")
  inputs = model_inputs(tokens, lengths, vocab_size)
  lengths = np.asarray(lengths)

  out = [np.asarray(_features(model, pooling, params, inputs[i:i + batch_size], lengths[i:i + batch_size]))
         for i in range(0, len(inputs), batch_size)]
  return np.concatenate(out).astype(np.float32)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _features(model, pooling, p, x, lens):
  """Pooled final-layer features of one batch (jitted once per model, pooling and batch shape)."""
  h = model.apply({"params": p}, x, method="features")
  real = (jnp.arange(x.shape[1])[None] < lens[:, None])[..., None]
  h = jnp.where(real, h, 0.0)
  if pooling == "mean":
    return h.sum(1) / lens[:, None]
  return h.reshape(h.shape[0], -1)


def lookup_features(language, tokens, lengths) -> np.ndarray:
  """Concatenated exact conditionals p(· | x_{−t}) of every position ([n, L·V]; zeros at padding)."""
  cond = np.asarray(language.masked_conditionals(tokens, lengths))
  return cond.reshape(cond.shape[0], -1).astype(np.float32)
