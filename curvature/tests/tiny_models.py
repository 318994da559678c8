"""Tiny float64 test problems in plain jax.numpy (no model library), and dense references built independently of
the library: Hessians by `jax.hessian`, GGNs, Fishers and empirical Fishers from explicit Jacobians.

A model is a dict of parameters and a function; `make_mlp` returns (params, loss_fn, batch) with
loss_fn(params, (x, y)) the mean softmax cross-entropy. Parameters ≤ ~100 so dense matrices are cheap. Call them
inside the `x64` fixture.
"""
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree


def mlp_params(seed=0, d=3, hidden=8, classes=4, scale=1.0):
  """{"w1": [d, h], "b1": [h], "w2": [h, c], "b2": [c]}, Gaussian, float64 (numpy: no program to compile)."""
  rng = np.random.default_rng(seed)
  return {"w1": jnp.asarray(scale * rng.standard_normal((d, hidden)) / np.sqrt(d)),
          "b1": jnp.asarray(0.1 * rng.standard_normal(hidden)),
          "w2": jnp.asarray(scale * rng.standard_normal((hidden, classes)) / np.sqrt(hidden)),
          "b2": jnp.asarray(0.1 * rng.standard_normal(classes))}


def mlp_logits(params, x):
  return jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


def xent(logits, labels):
  """Mean softmax cross-entropy with integer labels."""
  return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0])


def mlp_loss(params, batch):
  x, y = batch
  return xent(mlp_logits(params, x), y)


def mlp_batch(seed=0, n=16, d=3, classes=4):
  rng = np.random.default_rng(seed + 100)
  return jnp.asarray(rng.standard_normal((n, d))), jnp.asarray(rng.integers(0, classes, n))


def make_mlp(seed=0, n=16, d=3, hidden=8, classes=4):
  """(params, loss_fn, batch) of a tanh MLP with a dict of parameters (68 of them by default)."""
  return mlp_params(seed, d, hidden, classes), mlp_loss, mlp_batch(seed, n, d, classes)


def random_like(params, seed):
  flat, unravel = ravel_pytree(params)
  return unravel(jnp.asarray(np.random.default_rng(seed).standard_normal(flat.shape)))


_HESSIANS = {}


def dense_hessian(loss_fn, params, batch):
  """The Hessian as an n×n matrix in ravel_pytree order, with the unravel function (compiled once per loss_fn)."""
  flat, unravel = ravel_pytree(params)
  if loss_fn not in _HESSIANS:
    _HESSIANS[loss_fn] = jax.jit(jax.hessian(lambda f, b: loss_fn(unravel(f), b)))
  return np.asarray(_HESSIANS[loss_fn](flat, batch)), unravel


def logit_jacobians(logits_fn, params, x):
  """J [N, C, n] of the logits in ravel_pytree order, and the probabilities [N, C]."""
  flat, unravel = ravel_pytree(params)
  jac = jax.jit(jax.jacobian(lambda f: logits_fn(unravel(f), x)))(flat)
  return np.asarray(jac), np.asarray(jax.nn.softmax(logits_fn(params, x), axis=-1))


def dense_fisher(logits_fn, params, x):
  """(1/N) Σₙ Jₙᵀ (diag pₙ − pₙpₙᵀ) Jₙ: the exact Fisher = the GGN of the softmax cross-entropy."""
  jac, p = logit_jacobians(logits_fn, params, x)
  middle = np.einsum("nc,cd->ncd", p, np.eye(p.shape[1])) - np.einsum("nc,nd->ncd", p, p)
  return np.einsum("nci,ncd,ndj->ij", jac, middle, jac) / len(p)


def dense_score_outer(logits_fn, params, x, labels):
  """(1/(N S)) Σₙ Σₛ g gᵀ with g = Jₙᵀ(e_{yₙₛ} − pₙ), labels [S, N] (S = 1: the empirical Fisher)."""
  jac, p = logit_jacobians(logits_fn, params, x)
  labels = np.atleast_2d(labels)
  e = np.eye(p.shape[1])[labels] - p[None]                       # [S, N, C]
  g = np.einsum("snc,nci->sni", e, jac)                           # scores [S, N, n]
  return np.einsum("sni,snj->ij", g, g) / (labels.shape[0] * labels.shape[1])


def dense_matrix(matvec, params):
  """The matrix of a linear map on params-shaped pytrees, column by column (for checking operators)."""
  flat, unravel = ravel_pytree(params)
  cols = jax.jit(jax.vmap(lambda e: ravel_pytree(matvec(unravel(e)))[0]))(jnp.eye(flat.size, dtype=flat.dtype))
  return np.asarray(cols).T


def flat(tree):
  return np.asarray(ravel_pytree(tree)[0])


def attention_params(seed=0, vocab=11, length=5, dim=8):
  rng = np.random.default_rng(seed)
  shapes = {"embed": (vocab, dim), "pos": (length, dim), "wq": (dim, dim), "wk": (dim, dim), "wv": (dim, dim),
            "out": (dim, vocab)}
  return {k: jnp.asarray(rng.standard_normal(s) / np.sqrt(s[0])) for k, s in shapes.items()}


def attention_logits(params, tokens):
  """One self-attention block with a residual and a parameter-free layer norm; logits at every position."""
  x = params["embed"][tokens] + params["pos"]
  q, k, v = (x @ params[w] for w in ("wq", "wk", "wv"))
  a = jax.nn.softmax(q @ jnp.swapaxes(k, -1, -2) / np.sqrt(x.shape[-1]), axis=-1)
  h = x + a @ v
  h = (h - h.mean(-1, keepdims=True)) / jnp.sqrt(h.var(-1, keepdims=True) + 1e-5)
  return h @ params["out"]


def attention_loss(params, batch):
  tokens, targets = batch
  logits = attention_logits(params, tokens)
  return xent(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def make_attention(seed=0, n=16, vocab=11, length=5):
  """(params, loss_fn, batch) of a one-block attention model (~300 parameters)."""
  rng = np.random.default_rng(seed + 200)
  batch = tuple(jnp.asarray(rng.integers(0, vocab, (n, length))) for _ in range(2))
  return attention_params(seed, vocab, length), attention_loss, batch
