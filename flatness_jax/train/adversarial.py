"""Host side of adversarial pre-training (Liu et al. 2023, App. A.4): the probe head and the labelled sentences.

The head is a linear probe on the encoder's concatenated token features, fitted (full-batch AdamW from zero) on a
fixed labelled split of `head_examples` sentences, and refitted from the current encoder at every multiple of
`refit_every` and at every evaluation/checkpoint step (so a resumed run refits exactly where an uninterrupted run
does). Each step's adversarial term uses `batch_size` fresh labelled sentences drawn from a key stream disjoint
from the training sentences', keyed by step.
"""
import jax
import numpy as np

from flatness_jax.eval import features as features_lib, probe as probe_lib
from flatness_jax.train import feed


class Adversary:
  """Provides `extras` (head + labelled sentences) for the training chunk of steps [a, b)."""

  def __init__(self, run, config, data_sharding):
    self.run, self.cfg, self.sharding = run, config.adversarial, data_sharding
    lang = run.language
    if self.cfg.task not in lang.tasks:
      raise ValueError(f"adversarial.task={self.cfg.task!r} is not a task of {lang.name}: {sorted(lang.tasks)}")
    self.task = lang.tasks[self.cfg.task]
    self.head_data = features_lib.task_dataset(lang, self.cfg.task, self.cfg.head_examples, self.cfg.seed)
    self.key = jax.random.fold_in(jax.random.key(self.cfg.seed), 1)
    self.refit = set(range(0, config.train.num_steps, self.cfg.refit_every))
    from flatness_jax.train import loop  # pylint: disable=g-import-not-at-top
    self.refit.update(loop.event_steps(config))
    self.head = None

  def fit_head(self, params):
    d = self.head_data
    feats = features_lib.encoder_features(self.run.model, params, d.tokens, d.lengths, self.run.language.vocab_size)
    self.head = probe_lib.fit_linear_head(feats, d.labels, d.num_classes, self.cfg.head_steps)

  def extras(self, params, a: int, b: int) -> dict:
    if self.head is None or a in self.refit:
      self.fit_head(params)
    samples = [self.run.language.sample(jax.random.fold_in(self.key, s), self.cfg.batch_size) for s in range(a, b)]
    arrays = {"tokens": np.stack([x.tokens for x in samples]).astype(np.int32),
              "lengths": np.stack([x.lengths for x in samples]).astype(np.int32),
              "labels": np.stack([self.task.labels(x) for x in samples]).astype(np.int32)}
    out = {k: feed.to_global(v, self.sharding, 1) for k, v in arrays.items()}
    out["head"] = self.head
    return out
