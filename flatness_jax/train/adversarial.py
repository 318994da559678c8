"""Host side of adversarial pre-training (Liu et al. 2023, App. A.4): the probe head and the labelled sentences.

The head is a linear probe on the encoder's concatenated token features (flatness_jax.models.readout), fitted
(full-batch AdamW from zero) on a fixed labelled split of `head_examples` sentences, and refitted from the current
encoder at every step of `refit_steps` (the loop passes multiples of `refit_every` and every evaluation/checkpoint
step, so a resumed run refits exactly where an uninterrupted run does). Between refits the jitted step trains the
head too (one descent step per training step) and hands it back, which the loop returns with `accept`. Each step's
adversarial term uses `batch_size` fresh labelled sentences drawn from a key stream disjoint from the training
sentences', keyed by step.
"""
import jax
import numpy as np

from flatness_jax.data import task_data
from flatness_jax.models import readout
from flatness_jax.train import feed


class Adversary:
  """Provides `extras` (head + labelled sentences) for the training chunk of steps [a, b)."""

  def __init__(self, run, config, data_sharding, refit_steps):
    self.run, self.cfg, self.sharding = run, config.adversarial, data_sharding
    lang = run.language
    if self.cfg.task not in lang.tasks:
      raise ValueError(f"adversarial.task={self.cfg.task!r} is not a task of {lang.name}: {sorted(lang.tasks)}")
    self.task = lang.tasks[self.cfg.task]
    self.head_data = task_data.task_dataset(lang, self.cfg.task, self.cfg.head_examples, self.cfg.seed)
    self.key = jax.random.fold_in(jax.random.key(self.cfg.seed), 1)
    self.refit = set(refit_steps)
    self.head = None

  def fit_head(self, params):
    d = self.head_data
    feats = readout.encoder_features(self.run.model, params, d.tokens, d.lengths, self.run.language.vocab_size)
    self.head = readout.fit_linear_head(feats, d.labels, d.num_classes, self.cfg.head_steps)

  def extras(self, params, a: int, b: int) -> dict:
    if self.head is None or a in self.refit:
      self.fit_head(params)
    samples = [self.run.language.sample(jax.random.fold_in(self.key, s), self.cfg.batch_size) for s in range(a, b)]
    arrays = {"tokens": np.stack([x.tokens for x in samples]).astype(np.int32),
              "lengths": np.stack([x.lengths for x in samples]).astype(np.int32),
              "labels": np.stack([self.task.labels(x) for x in samples]).astype(np.int32)}
    out = {k: feed.to_global(v, self.sharding) for k, v in arrays.items()}
    out["head"] = self.head
    return out

  def accept(self, head) -> None:
    """The head as the jitted chunk left it (trained one descent step per training step)."""
    self.head = head
