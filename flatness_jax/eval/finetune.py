"""Whole-model fine-tuning as a downstream evaluation (Liu, Xie, Li, Ma, ICML 2023, §3 and App. A.3).

Where a linear probe (flatness_jax.eval.probe) trains only a head on frozen features, fine-tuning trains every
encoder parameter θ together with a fresh linear head {W, b} on the pooled sentence representation:

    p(y | x) = softmax(W h_θ(x) + b),   h_θ(x) = mean_{t < len(x)} LN_final(x_num_layers)_t   (pooling='mean')
                                            or the final state of position 0                (pooling='first')

(`model.pooled`, flatness_jax.models.bert / lstm). The loss is the minibatch cross-entropy, minimised with the
paper's fine-tuning protocol: AdamW at peak learning rate 1e-4 with linear warmup over the first
`warmup_fraction` of the steps and linear decay to zero after,

    η_t = η (t+1)/w  for t < w,      η_t = η (T − t)/(T − w)  for w ≤ t < T        (T = epochs · ⌊n / B⌋ steps),

decoupled weight decay on the matrices only (kernels and embeddings; biases and LayerNorm parameters are not
decayed, as in BERT), and 5 seeds. As for probes we report, per seed, the test accuracy at the epoch with the best
validation accuracy (ties: the earliest), and over seeds mean ± std. Seeds differ in the head's initialisation
W ~ N(0, 0.02²) (BERT's initializer range), in the minibatch order and, for models with dropout > 0, in the
dropout masks. The MLM head of the pre-trained model is not read by `pooled` and is left out of the trained
parameters.

Dropout: the encoder runs in training mode (dropout on) during the updates only if the model has `dropout > 0`
configured; evaluation always runs in inference mode.

All seeds train at once under `jax.vmap` (each seed holds its own copy of θ and the optimiser state); the epochs
and their steps run inside `lax.scan`, and the program is jitted at module level with the model and settings
static, so fine-tuning every checkpoint of a run (equal shapes) costs one compilation.
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from flatness_jax.eval import probe as probe_lib

POOLINGS = ("mean", "first")
HEAD_INIT_STD = 0.02  # BERT's initializer_range, the std of the fresh head's weights


def finetune(model, params, train, val, test, num_classes: int, *, seeds=(0, 1, 2, 3, 4), epochs: int,
             learning_rate: float = 1e-4, warmup_fraction: float = 0.1, batch_size: int = 32,
             pooling: str = "mean", weight_decay: float = 0.01,
             eval_batch_size: int = 256) -> probe_lib.ProbeResult:
  """Fine-tunes `model` (all encoder parameters from `params`, plus a fresh linear head) on `train`.

  Args:
    model: a BertMLM or BiLSTMMLM (anything with `pooled(tokens, train=, how=)` and `vocab_size`, `max_length`,
      `dropout`, `pad_id`).
    params: its parameters (the pre-trained checkpoint; boxed or plain). They are not modified.
    train, val, test: (inputs [n, L] int token ids as from data.batching.model_inputs — padding is PAD —, lengths [n],
      labels [n] int in [0, num_classes)). Lengths must agree with the padding of `inputs`; the model finds the
      real tokens from PAD.
    num_classes: the number of labels.
    seeds: one fine-tuning per seed.
    epochs: passes over the training split (its last partial minibatch is dropped); validation and test accuracy
      are measured after each epoch.
    learning_rate, warmup_fraction: peak AdamW learning rate and the fraction of the steps of linear warmup (then
      linear decay to zero).
    batch_size: the minibatch (capped at the training-set size).
    pooling: 'mean' (over real tokens) or 'first' (position 0).
    weight_decay: AdamW's decoupled weight decay on matrices.
    eval_batch_size: sentences per forward pass when measuring accuracy (memory only; results do not depend on it).

  Returns:
    probe.ProbeResult (per-seed selected test accuracy, best validation accuracy, 1-based best epoch and the
    per-epoch curves), whose `as_dict()` has the same keys as a linear probe's.

  Raises:
    ValueError: unknown pooling, an empty or malformed split, labels outside [0, num_classes), token ids or
      lengths the model cannot read, or bad settings.
  """
  if pooling not in POOLINGS:
    raise ValueError(f"finetune: unknown pooling {pooling!r}; choose one of {POOLINGS}")
  if num_classes < 2:
    raise ValueError(f"finetune: num_classes must be >= 2, got {num_classes}")
  seeds = tuple(int(s) for s in seeds)
  if not seeds:
    raise ValueError("finetune: seeds is empty")
  if epochs < 1 or batch_size < 1 or eval_batch_size < 1:
    raise ValueError(f"finetune: epochs, batch_size and eval_batch_size must be >= 1, got {epochs}, {batch_size}, "
                     f"{eval_batch_size}")
  if not 0.0 <= warmup_fraction < 1.0:
    raise ValueError(f"finetune: warmup_fraction must be in [0, 1), got {warmup_fraction}")
  (xtr, ytr), (xva, yva), (xte, yte) = [_check_split(name, split, model, num_classes)
                                        for name, split in (("train", train), ("val", val), ("test", test))]
  batch_size = min(batch_size, len(ytr))
  encoder = {k: v for k, v in nn.unbox(params).items() if k != "head"}  # the MLM head is not read by `pooled`
  keys = jnp.stack([jax.random.key_data(jax.random.key(s)) for s in seeds])
  tl, va, te = _finetune_seeds(keys, encoder, jnp.asarray(xtr), jnp.asarray(ytr),
                               *_eval_chunks(xva, yva, eval_batch_size), *_eval_chunks(xte, yte, eval_batch_size),
                               model=model, num_classes=num_classes,
                               epochs=epochs, learning_rate=float(learning_rate),
                               warmup_fraction=float(warmup_fraction), batch_size=batch_size, pooling=pooling,
                               weight_decay=float(weight_decay), dropout=bool(getattr(model, "dropout", 0.0) > 0))
  return probe_lib.ProbeResult.from_curves(tl, va, te)


def _check_split(name, split, model, num_classes):
  """(inputs int32 [n, L], labels int32 [n]) of a validated split."""
  try:
    inputs, lengths, labels = split
  except (TypeError, ValueError) as e:
    raise ValueError(f"finetune: {name} split must be (inputs, lengths, labels)") from e
  inputs, lengths, labels = np.asarray(inputs), np.asarray(lengths), np.asarray(labels)
  if inputs.ndim != 2 or lengths.ndim != 1 or labels.ndim != 1:
    raise ValueError(f"finetune: {name} split needs inputs [n, L], lengths [n], labels [n]; got shapes "
                     f"{inputs.shape}, {lengths.shape}, {labels.shape}")
  n, length = inputs.shape
  if n == 0:
    raise ValueError(f"finetune: {name} split is empty")
  if len(lengths) != n or len(labels) != n:
    raise ValueError(f"finetune: {name} split has {n} inputs but {len(lengths)} lengths and {len(labels)} labels")
  for what, a in (("inputs", inputs), ("lengths", lengths), ("labels", labels)):
    if not np.issubdtype(a.dtype, np.integer):
      raise ValueError(f"finetune: {name} {what} must be integers, got {a.dtype}")
  if labels.min() < 0 or labels.max() >= num_classes:
    raise ValueError(f"finetune: {name} labels must be in [0, {num_classes}), got range "
                     f"[{labels.min()}, {labels.max()}]")
  if length > model.max_length:
    raise ValueError(f"finetune: {name} sentences have length {length} > the model's max_length {model.max_length}")
  if inputs.min() < 0 or inputs.max() > model.vocab_size + 1:
    raise ValueError(f"finetune: {name} token ids must be in [0, {model.vocab_size + 1}] (words, PAD, MASK), got "
                     f"range [{inputs.min()}, {inputs.max()}]")
  if lengths.min() < 1 or lengths.max() > length:
    raise ValueError(f"finetune: {name} lengths must be in [1, {length}], got range [{lengths.min()}, "
                     f"{lengths.max()}]")
  real = np.arange(length)[None] < lengths[:, None]
  if not np.array_equal(inputs != model.pad_id, real):
    raise ValueError(f"finetune: {name} inputs and lengths disagree (PAD must fill exactly the positions >= length; "
                     "build inputs with flatness_jax.data.batching.model_inputs)")
  return inputs.astype(np.int32), labels.astype(np.int32)


def _eval_chunks(x, y, size):
  """x, y padded (by repeating row 0) to whole chunks of `size`, reshaped [c, size, ...], and 0/1 weights [c, size]."""
  n = len(y)
  size = min(size, n)
  c = -(-n // size)
  idx = np.concatenate([np.arange(n), np.zeros(c * size - n, np.int64)])
  w = (np.arange(c * size) < n).astype(np.float32)
  return (jnp.asarray(x[idx].reshape(c, size, -1)), jnp.asarray(y[idx].reshape(c, size)),
          jnp.asarray(w.reshape(c, size)))


def warmup_linear_decay(learning_rate: float, warmup_steps: int, total_steps: int):
  """η_t = η (t+1)/w for t < w, then η (T − t)/(T − w): linear warmup to η, linear decay towards 0 at T.

  No step has learning rate 0 (the first is η/w, the last η/(T − w)).
  """
  w, total = int(warmup_steps), int(total_steps)

  def schedule(t):
    t = jnp.asarray(t, jnp.float32)
    up = (t + 1) / max(w, 1)
    down = (total - t) / max(total - w, 1)
    return learning_rate * jnp.clip(jnp.where(t < w, up, down), 0.0, 1.0)
  return schedule


@functools.partial(jax.jit, static_argnames=("model", "num_classes", "epochs", "learning_rate", "warmup_fraction",
                                             "batch_size", "pooling", "weight_decay", "dropout"))
def _finetune_seeds(keys, encoder, xtr, ytr, xva, yva, wva, xte, yte, wte, *, model, num_classes, epochs,
                    learning_rate, warmup_fraction, batch_size, pooling, weight_decay, dropout):
  """Per seed (vmapped over `keys`): AdamW epochs of minibatch steps in `lax.scan`s; per-epoch mean train loss,
  validation and test accuracy ([seeds, epochs] each). Jitted at module level: checkpoints of the same model,
  data shapes and settings share one compiled program."""
  n = xtr.shape[0]
  steps = n // batch_size
  total = epochs * steps
  tx = optax.adamw(warmup_linear_decay(learning_rate, round(warmup_fraction * total), total),
                   weight_decay=weight_decay, mask=lambda p: jax.tree.map(lambda a: a.ndim >= 2, p))
  dim = jax.eval_shape(lambda: model.apply({"params": encoder}, xtr[:1], how=pooling, method="pooled")).shape[-1]

  def logits(p, x, rng=None):  # rng given: a training step (dropout on iff the model has dropout)
    if dropout and rng is not None:
      h = model.apply({"params": p["encoder"]}, x, train=True, how=pooling, method="pooled", rngs={"dropout": rng})
    else:
      h = model.apply({"params": p["encoder"]}, x, how=pooling, method="pooled")
    return h.astype(jnp.float32) @ p["head"]["w"] + p["head"]["b"]

  def loss(p, x, y, rng):
    return optax.softmax_cross_entropy_with_integer_labels(logits(p, x, rng), y).mean()

  def accuracy(p, x, y, w):
    hits = jax.lax.map(lambda c: jnp.sum((jnp.argmax(logits(p, c[0]), -1) == c[1]) * c[2]), (x, y, w))
    return hits.sum() / w.sum()

  def one_seed(key):
    k_init, k_epochs = jax.random.split(jax.random.wrap_key_data(key))
    params = {"encoder": encoder,
              "head": {"w": HEAD_INIT_STD * jax.random.normal(k_init, (dim, num_classes)),
                       "b": jnp.zeros((num_classes,))}}

    def epoch(carry, k):
      k_perm, k_drop = jax.random.split(k)
      perm = jax.random.permutation(k_perm, n)[: steps * batch_size].reshape(steps, batch_size)

      def step(c, inp):
        p, o = c
        idx, rng = inp
        l, g = jax.value_and_grad(loss)(p, xtr[idx], ytr[idx], rng)
        u, o = tx.update(g, o, p)
        return (optax.apply_updates(p, u), o), l

      (p, o), losses = jax.lax.scan(step, carry, (perm, jax.random.split(k_drop, steps)))
      return (p, o), (losses.mean(), accuracy(p, xva, yva, wva), accuracy(p, xte, yte, wte))

    _, out = jax.lax.scan(epoch, (params, tx.init(params)), jax.random.split(k_epochs, epochs))
    return out

  return jax.vmap(one_seed)(keys)
