"""Tiny float64 test problems for the curvature tests: an MLP, a transformer-like flax model, a synthetic teacher.

Each `make_*` returns (params, loss_fn, batch) with loss_fn(params, batch) -> scalar; parameters ≤ ~2k so dense
Hessians are cheap. Call them inside the `x64` fixture.
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree


class MLP(nn.Module):
  hidden: int = 8
  classes: int = 4

  @nn.compact
  def __call__(self, x):
    x = jnp.tanh(nn.Dense(self.hidden)(x))
    return nn.Dense(self.classes)(x)


class TinyTransformer(nn.Module):
  """Encoder block + token head: embed + positions, self-attention, LayerNorm, MLP, vocab logits at every position."""
  vocab: int = 11
  length: int = 5
  dim: int = 8
  heads: int = 2

  @nn.compact
  def __call__(self, tokens):
    x = nn.Embed(self.vocab, self.dim)(tokens)
    x = x + self.param("pos", nn.initializers.normal(0.1), (self.length, self.dim))
    x = nn.LayerNorm()(x + nn.MultiHeadDotProductAttention(num_heads=self.heads, qkv_features=self.dim)(x))
    x = x + nn.Dense(self.dim)(jnp.tanh(nn.Dense(2 * self.dim)(x)))
    return nn.Dense(self.vocab)(x)


def _xent(logits, labels):
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


@functools.lru_cache(maxsize=None)
def loss_for(model):
  """One loss function object per model config (flax modules hash by their fields), so the toolkit's compilation
  cache, keyed on the function, is shared between tests."""
  return lambda p, b: _xent(model.apply(p, b[0]), b[1])


@functools.lru_cache(maxsize=None)
def init64(model):
  """jit(model.init) with float64 parameters (one compiled program instead of dozens of eager ops)."""
  return jax.jit(lambda key, x: jax.tree.map(lambda a: a.astype(jnp.float64), model.init(key, x)))


def make_mlp(seed=0, n=16, d=3, hidden=8, classes=4):
  rng = np.random.default_rng(seed)
  model = MLP(hidden, classes)
  x = jnp.asarray(rng.standard_normal((n, d)))
  y = jnp.asarray(rng.integers(0, classes, n))
  return init64(model)(jax.random.key(seed), x), loss_for(model), (x, y)


def make_transformer(seed=0, n=4):
  rng = np.random.default_rng(seed)
  model = TinyTransformer()
  tokens = jnp.asarray(rng.integers(0, model.vocab, (n, model.length)))
  targets = jnp.asarray(rng.integers(0, model.vocab, (n, model.length)))
  return init64(model)(jax.random.key(seed), tokens), loss_for(model), (tokens, targets)


_HESSIANS = {}


def dense_hessian(loss_fn, params, batch):
  """The Hessian as an n×n matrix in ravel_pytree order, with the unravel function (compiled once per loss_fn)."""
  flat, unravel = ravel_pytree(params)
  if loss_fn not in _HESSIANS:
    _HESSIANS[loss_fn] = jax.jit(jax.hessian(lambda f, b: loss_fn(unravel(f), b)))
  return _HESSIANS[loss_fn](flat, batch), unravel
