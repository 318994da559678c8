"""Reading a downstream label off a frozen or training encoder: pooled features and a linear head.

Shared by training (adversarial pre-training, flatness_jax.train) and evaluation (probes, downstream-loss
curvature, flatness_jax.eval), so the features a head reads are defined once (Liu et al. 2023, §3 and App. A.3-A.4):

  h = model.features(inputs)                      [B, L, d], inputs with PAD after each sentence's length
  φ(x) = concat_t h_t 1[t < n]                    [B, L·d]   (pooling='concat', the paper's probe)
       or (1/n) Σ_{t<n} h_t                      [B, d]     (pooling='mean')
  logits = φ(x) W + b,   loss = mean_i −log softmax(logits_i)_{y_i}          (a linear head {w: [D, C], b: [C]})

`encoder_features` computes φ over a whole labelled set in jitted batches (numpy out); `fit_linear_head` fits
{w, b} by full-batch AdamW from zero on fixed features (deterministic), where a head must be refitted often; the
paper's probe protocol with minibatches and seeds is flatness_jax.eval.probe.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from flatness_jax.tokens import batching

POOLINGS = ("concat", "mean")


def pool(hidden, lengths, pooling: str = "concat"):
  """φ(x) from token states `hidden` [B, L, d] and `lengths` [B] (padding zeroed first; module docstring)."""
  if pooling not in POOLINGS:
    raise ValueError(f"pooling={pooling!r}; choose one of {POOLINGS}")
  real = (jnp.arange(hidden.shape[1])[None] < lengths[:, None])[..., None]
  hidden = jnp.where(real, hidden, 0.0)
  if pooling == "mean":
    return hidden.sum(1) / lengths[:, None]
  return hidden.reshape(hidden.shape[0], -1)


def pooled_features(model, params, inputs, lengths, pooling: str = "concat"):
  """φ(x) of the encoder with `params` on `inputs` [B, L] (PAD after `lengths`), in inference mode."""
  return pool(model.apply({"params": params}, inputs, method="features"), lengths, pooling)


def encoder_features(model, params, tokens, lengths, vocab_size: int, pooling: str = "concat",
                     batch_size: int = 512) -> np.ndarray:
  """φ(x) float32 [n, D] of sentences `tokens` [n, L] (anything past `lengths`), in jitted batches."""
  if pooling not in POOLINGS:
    raise ValueError(f"pooling={pooling!r}; choose one of {POOLINGS}")
  inputs = np.asarray(batching.model_inputs(tokens, lengths, vocab_size))
  lengths = np.asarray(lengths)
  out = [np.asarray(_features(model, pooling, params, inputs[i:i + batch_size], lengths[i:i + batch_size]))
         for i in range(0, len(inputs), batch_size)]
  return np.concatenate(out).astype(np.float32)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _features(model, pooling, p, x, lens):
  """Pooled final-layer features of one batch (jitted once per model, pooling and batch shape)."""
  return pooled_features(model, p, x, lens, pooling)


def head_logits(head, features):
  """φ W + b, in at least float32."""
  logits = features @ head["w"] + head["b"]
  return logits.astype(jnp.promote_types(logits.dtype, jnp.float32))


def head_loss(head, features, labels):
  """Mean cross-entropy of the linear head on (features, labels)."""
  return optax.softmax_cross_entropy_with_integer_labels(head_logits(head, features), labels).mean()


def head_descent_step(head, features, labels, learning_rate: float):
  """One gradient-descent step of the head on fixed features (the adversary's head keeping up with the encoder)."""
  g = jax.grad(head_loss)(head, jax.lax.stop_gradient(features), labels)
  return jax.tree.map(lambda p, d: p - learning_rate * d, head, g)


def fit_linear_head(features, labels, num_classes: int, steps: int, learning_rate: float = 1e-3):
  """A linear head {w, b} fitted by `steps` full-batch AdamW steps from zero on frozen features (deterministic)."""
  x, y = jnp.asarray(features, jnp.float32), jnp.asarray(labels, jnp.int32)
  params = {"w": jnp.zeros((x.shape[1], num_classes)), "b": jnp.zeros((num_classes,))}
  return _fit_head(params, x, y, steps=steps, learning_rate=learning_rate)


@functools.partial(jax.jit, static_argnames=("steps", "learning_rate"))
def _fit_head(params, x, y, *, steps, learning_rate):
  tx = optax.adamw(learning_rate, weight_decay=0.0)

  def step(c, _):
    p, o = c
    u, o = tx.update(jax.grad(head_loss)(p, x, y), o, p)
    return (optax.apply_updates(p, u), o), None
  (p, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
  return p
