"""The interface every synthetic language offers the training and evaluation code.

A `Language` samples sentences with their latent structure (`sample(key, n)`), gives the exact masked conditionals
p(x_t = w | x_{−t}) (`masked_conditionals`), the optimal loss of the one-mask objective (Liu et al. 2023, §2)
  L* = E_x[(1/|x|) Σ_t −log p(x_t | x_{−t})]            (sentence-weighted, the paper's definition)
  L*_tok = Σ_x Σ_t −log p(x_t | x_{−t}) / Σ_x |x|       (token-weighted: the mean over all masked tokens)
with standard errors (`optimal_loss`), and downstream `tasks`, each with its labels and the Bayes-optimal
(exact-posterior argmax) predictions, the ceiling of any probe. Randomness comes from an explicit key: an int seed
or a jax PRNG key (raw uint32 or typed); the same key gives the same bytes. Languages are built from a data config
by `flatness_jax.data.registry.make_language`.

Where every position's conditionals are costly (the LM language enumerates K candidates per position),
`position_conditionals` gives one position per sentence, and `sentence_nll_sums` may return an unbiased estimate of
Σ_t −log p(x_t | x_{−t}) (n·(−log p) at one uniform position t) instead of the exact sum; `nll_estimator` says
which. A task may also come with its own labelled text instead of labels of sampled sentences (`Task.dataset`:
GLUE for the LM language), and says why when that text cannot be read (`TaskUnavailableError`).
"""
import abc
import dataclasses
import hashlib
from typing import Any, Callable, NamedTuple, Optional

import numpy as np


class Sample(NamedTuple):
  """Sentences: tokens int32 [n, max_length] padded with −1 after `lengths` int32 [n]; latents per language."""
  tokens: np.ndarray
  lengths: np.ndarray
  latents: Any


@dataclasses.dataclass(frozen=True)
class Task:
  """A downstream classification task on sentences.

  `labels(sample)` and `bayes_predictions(sample)` return int32 [n] in 0..num_classes−1; the Bayes predictions are
  the argmax of the exact posterior of the label given the sentence, so their accuracy is the task's ceiling.
  A task on external text (GLUE) has neither: `dataset(n, seed)` returns its TaskData (flatness_jax.data.task_data)
  with its own train/selection/test split, or raises TaskUnavailableError saying why (data not prepared).
  """
  name: str
  num_classes: int
  labels: Optional[Callable[[Sample], np.ndarray]]
  bayes_predictions: Optional[Callable[[Sample], np.ndarray]]
  description: str = ""
  class_names: tuple = ()
  posterior: Optional[Callable] = None  # (tokens, lengths) -> exact P(label | x) [n, num_classes], if available
  prior: Optional[np.ndarray] = None     # exact marginal P(label) [num_classes], if available
  dataset: Optional[Callable] = None     # (n, seed) -> TaskData of external labelled text (no labels of samples)


class TaskUnavailableError(RuntimeError):
  """A task's external data cannot be read here (e.g. GLUE not prepared); the message says what to do."""


def numpy_rng(key) -> np.random.Generator:
  """A numpy Generator from an int seed, a jax PRNG key (raw or typed) or a Generator (returned as is)."""
  if isinstance(key, np.random.Generator):
    return key
  if isinstance(key, (int, np.integer)):
    return np.random.default_rng(int(key))
  import jax  # pylint: disable=g-import-not-at-top
  arr = key
  dtype = getattr(arr, "dtype", None)
  if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
    arr = jax.random.key_data(arr)
  data = np.asarray(arr).astype(np.uint32).ravel()
  return np.random.default_rng([int(v) for v in data] + [0x5EED])


def jax_key(key):
  """A typed jax PRNG key from an int seed, a typed key (returned as is) or raw uint32 key data."""
  import jax  # pylint: disable=g-import-not-at-top
  if isinstance(key, (int, np.integer)):
    return jax.random.key(int(key))
  dtype = getattr(key, "dtype", None)
  if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
    return key
  return jax.random.wrap_key_data(np.asarray(key, np.uint32))


def loss_statistics(nll_sums: np.ndarray, lengths: np.ndarray) -> dict:
  """L* and L*_tok (module docstring) with SEs from per-sentence sums of −log p(x_t | x_{−t}) and lengths.

  The token-weighted SE is the ratio-estimator (delta-method) SE: sqrt(Σ (s_i − R n_i)² / (m (m−1))) / mean(n).
  """
  s = np.asarray(nll_sums, np.float64)
  n = np.asarray(lengths, np.float64)
  m = len(s)
  per_sentence = s / n
  ratio = s.sum() / n.sum()
  if m > 1:
    se = per_sentence.std(ddof=1) / np.sqrt(m)
    se_tok = np.sqrt(np.sum((s - ratio * n) ** 2) / (m * (m - 1))) / n.mean()
  else:
    se = se_tok = float("nan")
  return {"optimal_loss": float(per_sentence.mean()), "optimal_loss_se": float(se),
          "optimal_loss_token_weighted": float(ratio), "optimal_loss_token_weighted_se": float(se_tok),
          "num_sentences": int(m), "mean_length": float(n.mean())}


def sentence_nll(conditionals, tokens, lengths) -> np.ndarray:
  """Σ_t −log p(x_t | x_{−t}) per sentence from conditionals [n, L, V]."""
  tokens = np.asarray(tokens)
  valid = np.arange(tokens.shape[1]) < np.asarray(lengths)[:, None]
  p = np.take_along_axis(conditionals, np.where(valid, tokens, 0)[..., None], -1)[..., 0]
  with np.errstate(divide="ignore"):
    return np.where(valid, -np.log(np.where(valid, p, 1.0)), 0.0).sum(1)


def batch_digest(tokens, lengths) -> bytes:
  """A 16-byte fingerprint of a padded batch (tokens, lengths and shape)."""
  tokens = np.ascontiguousarray(tokens, np.int32)
  lengths = np.ascontiguousarray(lengths, np.int32)
  return hashlib.blake2b(tokens.tobytes() + lengths.tobytes() + bytes(str(tokens.shape), "ascii"),
                         digest_size=16).digest()


class Language(abc.ABC):
  """A synthetic language with exact conditionals (module docstring).

  Subclasses call `__init__` with their sizes, then set `tasks`; `cached(tokens, lengths, compute)` keeps the
  per-batch work (an inside–outside chart, forward–backward messages) of the last batch, so the conditionals and
  the task posteriors of one batch share it.
  """
  name: str
  vocab_size: int
  max_length: int
  min_length: int
  tasks: dict
  batch_size: int = 256  # sentences per exact-conditional call (bounds memory)
  nll_estimator: str = "exact (every position)"  # what `sentence_nll_sums` returns

  def __init__(self, name: str, vocab_size: int, max_length: int, min_length: int, batch_size: int):
    self.name, self.vocab_size = name, int(vocab_size)
    self.max_length, self.min_length = int(max_length), int(min_length)
    self.batch_size = int(batch_size)
    self.tasks = {}
    self._cache = (None, None)

  def cached(self, tokens, lengths, compute, kind: str = ""):
    """compute(tokens int32, lengths int32) for this batch, reused while the same batch (and `kind` of work) is
    asked for again."""
    tokens = np.ascontiguousarray(tokens, np.int32)
    lengths = np.ascontiguousarray(lengths, np.int32)
    digest = batch_digest(tokens, lengths) + kind.encode()
    if self._cache[0] != digest:
      self._cache = (digest, compute(tokens, lengths))
    return self._cache[1]

  @abc.abstractmethod
  def sample(self, key, n: int) -> Sample:
    """`n` sentences drawn with `key`."""

  @abc.abstractmethod
  def _conditionals(self, tokens, lengths, out=None) -> np.ndarray:
    """masked_conditionals for one batch of at most `batch_size` sentences, written into `out` (zeros, the batch's
    slice of the result) when given; returns the batch's array."""

  def masked_conditionals(self, tokens, lengths) -> np.ndarray:
    """p(x_t = w | x_{−t}) float64 [n, max_length, V]; zeros at padding.

    The result is allocated once and each batch writes its slice (no concatenation: at V = 200 the [n, L, V]
    array is most of the memory traffic).
    """
    tokens = np.asarray(tokens)
    lengths = np.asarray(lengths)
    out = np.zeros((len(tokens), tokens.shape[1], self.vocab_size))
    for i in range(0, len(tokens), self.batch_size):
      part = out[i:i + self.batch_size]
      res = self._conditionals(tokens[i:i + self.batch_size], lengths[i:i + self.batch_size], part)
      if res is not part:
        part[...] = res
    return out

  def batched(self, fn, tokens, lengths):
    """fn(tokens, lengths) applied to chunks of `batch_size` sentences, results concatenated."""
    tokens, lengths = np.asarray(tokens), np.asarray(lengths)
    return np.concatenate([fn(tokens[i:i + self.batch_size], lengths[i:i + self.batch_size])
                           for i in range(0, len(tokens), self.batch_size)])

  def position_conditionals(self, tokens, lengths, positions) -> np.ndarray:
    """p(x_t = w | x_{−t}) float64 [n, V] at one position t = positions[i] (0-based, < lengths[i]) per sentence."""
    tokens, lengths, positions = np.asarray(tokens), np.asarray(lengths), np.asarray(positions)
    return self.masked_conditionals(tokens, lengths)[np.arange(len(tokens)), positions]

  def sentence_nll_sums(self, tokens, lengths, key=None) -> np.ndarray:
    """Σ_t −log p(x_t | x_{−t}) per sentence (exact here; `key` is for languages that estimate it)."""
    del key
    return self.batched(lambda t, l: sentence_nll(self.masked_conditionals(t, l), t, l), tokens, lengths)

  def card_extras(self) -> dict:
    """What a data card records about this language beyond the common numbers (nothing by default)."""
    return {}

  def optimal_loss(self, num_sentences: int, seed) -> dict:
    """L* and L*_tok with SEs over `num_sentences` sentences drawn with `seed` (module docstring)."""
    sample = self.sample(seed, num_sentences)
    sums = self.sentence_nll_sums(sample.tokens, sample.lengths, numpy_rng(seed))
    return loss_statistics(sums, sample.lengths)
