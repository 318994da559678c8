"""Host side of adversarial pre-training (Liu et al. 2023, App. A.4): the probe head and the labelled sentences.

The head is a linear probe on the encoder's concatenated token features (flatness_jax.models.readout), fitted
(full-batch AdamW from zero) on a fixed labelled split of `head_examples` sentences, and refitted from the current
encoder before every chunk that starts at one of `refit_steps` (multiples of `refit_every` and every event step of
the loop, so a resumed run refits exactly where an uninterrupted run does). The head is the training state's
algorithm state (`state.algo['head']`, checkpointed): between refits the jitted step trains it too (one descent step
per training step). Each step's adversarial term uses `batch_size` fresh labelled sentences drawn from a key stream
disjoint from the training sentences', keyed by step.
"""
import jax
import numpy as np

from flatness_jax.data import task_data
from flatness_jax.models import readout
from flatness_jax.rundir import reader
from flatness_jax.train import feed


class Adversary:
  """The adversarial term's inputs: head refits (into the state) and each chunk's labelled sentences and λ."""

  def __init__(self, language, model, config, mesh_shardings, refit_steps):
    self.language, self.model, self.cfg = language, model, config.adversarial
    self.data_sharding, self.replicated = mesh_shardings
    if self.cfg.task not in language.tasks:
      raise ValueError(f"adversarial.task={self.cfg.task!r} is not a task of {language.name}: {sorted(language.tasks)}")
    self.task = language.tasks[self.cfg.task]
    self.head_data = task_data.task_dataset(language, self.cfg.task, self.cfg.head_examples, self.cfg.seed)
    self.key = jax.random.fold_in(jax.random.key(self.cfg.seed), 1)
    self.refit = set(refit_steps)
    self.lam = float(config.train.adversarial_lambda)  # λ of the next chunk (LambdaControl may move it)
    self.start = int(config.adversarial.get("start_step", 0))  # λ = 0 for the chunks before this step

  def abstract_state(self, params) -> dict:
    """{'head': {'w': [D, C], 'b': [C]}} as ShapeDtypeStructs (D: the encoder's concatenated feature width)."""
    d = self.head_data
    feats = jax.eval_shape(lambda p: readout.pooled_features(self.model, p, d.tokens[:1], d.lengths[:1], "concat"),
                           params)
    f32 = np.float32
    return {"head": {"w": jax.ShapeDtypeStruct((feats.shape[1], d.num_classes), f32),
                     "b": jax.ShapeDtypeStruct((d.num_classes,), f32)}}

  def fit_head(self, params) -> dict:
    """The head fitted from zero on frozen features of the current encoder (readout.fit_linear_head)."""
    d = self.head_data
    feats = readout.encoder_features(self.model, params, d.tokens, d.lengths, self.language.vocab_size)
    return readout.fit_linear_head(feats, d.labels, d.num_classes, self.cfg.head_steps)

  def before_chunk(self, a: int, state):
    """The state with its head refitted when the chunk starting at step `a` is a refit step."""
    if a not in self.refit:
      return state
    head = jax.tree.map(lambda x: feed.to_global(np.asarray(x), self.replicated), self.fit_head(state.params))
    return state.replace(algo={"head": head})

  def labelled_arrays(self, a: int, b: int) -> dict:
    """The labelled sentences of steps [a, b) on the host ({tokens, lengths, labels} [n, Ba, ...]): functions of
    the adversary's key and the step, so the trainer's feed draws them ahead with the chunk's batches."""
    samples = [self.language.sample(jax.random.fold_in(self.key, s), self.cfg.batch_size) for s in range(a, b)]
    return {"tokens": np.stack([x.tokens for x in samples]).astype(np.int32),
            "lengths": np.stack([x.lengths for x in samples]).astype(np.int32),
            "labels": np.stack([self.task.labels(x) for x in samples]).astype(np.int32)}

  def chunk_inputs(self, a: int, b: int, arrays: dict = None):
    """(labelled sentences of steps [a, b) as global arrays [n, Ba, ...], λ of these steps); `arrays`: their
    `labelled_arrays(a, b)` when already drawn."""
    arrays = self.labelled_arrays(a, b) if arrays is None else arrays
    labelled = {k: feed.to_global(v, self.data_sharding) for k, v in arrays.items()}
    return labelled, np.float32(self.lam if a >= self.start else 0.0)


class LambdaControl:
  """Adversarial pre-training at equal loss: λ adapted so the run's held-out gap tracks a reference run's.

  The paper's comparison is at equal pre-training loss; a fixed λ either leaves the loss far above the reference
  (λ too large) or barely perturbs training (λ too small), and the right λ depends on scale. So λ starts at
  `train.adversarial_lambda` and, at every evaluation step s (where both runs are evaluated on the same held-out
  pairs), moves multiplicatively:
      λ ← min(λ·f, λ_max)  if gap(s) ≤ gap_ref(s) + tol,      λ ← λ / f  otherwise,
  with f = `adversarial.lambda_factor`, tol = `adversarial.gap_tolerance` (a fraction of L*) and gap_ref(s) the
  reference's gap at its last evaluation ≤ s. The reference is the same seed of the arm `adversarial.match_gap_of`
  (trained before this one: list it earlier in config.arms). λ is a traced argument of the jitted step, so
  changing it recompiles nothing; every metrics row records the λ its steps used, so a resumed run recomputes
  the same sequence from metrics.jsonl. With `adversarial.start_step` = s0 > 0 the term is off (λ = 0) before s0
  and λ stays at its initial value until the first evaluation at or after s0.
  """

  def __init__(self, reference_dir: str, initial: float, tolerance: float, factor: float, maximum: float,
               start_step: int = 0):
    self.reference = sorted((s, e.gap_relative) for s, e in reader.read_evaluations(reference_dir).items())
    if not self.reference:
      raise ValueError(f"adversarial.match_gap_of: {reference_dir} has no held-out evaluations; train the reference "
                       "arm first (list it before this arm in config.arms)")
    self.reference_dir = reference_dir
    self.lam, self.tol, self.factor, self.max = float(initial), float(tolerance), float(factor), float(maximum)
    self.start = int(start_step)

  def reference_gap(self, step: int):
    """The reference's relative gap at its last evaluation at or before `step` (None before its first)."""
    earlier = [g for s, g in self.reference if s <= step]
    return earlier[-1] if earlier else None

  def update(self, step: int, gap: float) -> float:
    """λ for the steps after the evaluation at `step` that measured `gap` (fraction of L*)."""
    ref = self.reference_gap(step)
    if ref is not None and np.isfinite(gap) and step >= self.start:
      self.lam = min(self.lam * self.factor, self.max) if gap <= ref + self.tol else self.lam / self.factor
    return self.lam

  def replay(self, rows, resume_step: int) -> float:
    """λ after `resume_step`, recomputed from the metrics rows written up to it."""
    for r in sorted((r for r in rows if r.get("step", 0) <= resume_step and "gap_relative" in r),
                    key=lambda r: r["step"]):
      if "adversarial_lambda" in r and not 0 < r["step"] <= self.start:  # rows up to the start record λ = 0
        self.lam = float(r["adversarial_lambda"])
      self.update(r["step"], r["gap_relative"])
    return self.lam
