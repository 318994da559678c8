"""Tiny float64 test problems for the curvature tests: an MLP, a transformer-like flax model, a synthetic teacher.

Each `make_*` returns (params, loss_fn, batch) with loss_fn(params, batch) -> scalar; parameters ≤ ~2k so dense
Hessians are cheap. Call them inside the `x64` fixture.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
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


def make_mlp(seed=0, n=16, d=3, hidden=8, classes=4):
  k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
  model = MLP(hidden, classes)
  x = jax.random.normal(k1, (n, d), jnp.float64)
  y = jax.random.randint(k2, (n,), 0, classes)
  params = jax.tree.map(lambda a: a.astype(jnp.float64), model.init(k3, x))
  return params, lambda p, b: _xent(model.apply(p, b[0]), b[1]), (x, y)


def make_transformer(seed=0, n=4):
  model = TinyTransformer()
  k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
  tokens = jax.random.randint(k1, (n, model.length), 0, model.vocab)
  targets = jax.random.randint(k2, (n, model.length), 0, model.vocab)
  params = jax.tree.map(lambda a: a.astype(jnp.float64), model.init(k3, tokens))
  return params, lambda p, b: _xent(model.apply(p, b[0]), b[1]), (tokens, targets)


_HESSIANS = {}


def dense_hessian(loss_fn, params, batch):
  """The Hessian as an n×n matrix in ravel_pytree order, with the unravel function (compiled once per loss_fn)."""
  flat, unravel = ravel_pytree(params)
  if loss_fn not in _HESSIANS:
    _HESSIANS[loss_fn] = jax.jit(jax.hessian(lambda f, b: loss_fn(unravel(f), b)))
  return _HESSIANS[loss_fn](flat, batch), unravel
