"""Hessian-vector products of a loss over a params pytree, and the Hessian as a batch-averaged operator.

For L(θ) = loss_fn(θ, batch) (a scalar), H v = ∂/∂ε ∇L(θ + ε v)|₀ is computed forward-over-reverse, `jax.jvp` of
`jax.grad` (Pearlmutter 1994; the cheapest mode for a Hessian-vector product in JAX, ≈ 2–3 gradients).

Many probes at the same (θ, batch): `jax.linearize(∇L, θ)` runs the gradient once and returns the linear map
v ↦ H v with the forward/backward residuals stored, so each further product costs only the tangent half (measured on
this project's small transformer: see benchmarks/bench_curvature.py).

A loss averaged over all examples of several batches, L = Σ_b (n_b/N) L_b with L_b the mean loss of batch b
(n_b examples, N = Σ_b n_b), has the Hessian H = Σ_b (n_b/N) ∇² L_b: batches are weighted by their size, so a
short last batch counts for its examples only. n_b is the leading dimension of the batch's first array leaf (a
batch of scalars counts 1). This H is represented by an *operator*: a function `op(f)` that, for any
f(matvec) -> pytree linear in the matvec (blocks A V, quadratic forms vᵀ A v), returns Σ_b (n_b/N) f(v ↦ H_b v). It linearizes each batch once per call and keeps one batch's residuals alive at a time (a
`lax.scan` over batches when they share shapes), so memory does not grow with the number of batches. With a single
batch the linearization is done once and shared by all stages of an estimator.
"""
import functools

import jax
import jax.numpy as jnp
from jax import lax

from flatness_curvature._masks import masked_matvec
from flatness_curvature._filter_jit import hashable_fn


def hvp(loss_fn, params, batch, v):
  """H v for H = ∇²_θ loss_fn(θ, batch) at θ = params (forward-over-reverse)."""
  return jax.jvp(lambda p: jax.grad(loss_fn)(p, batch), (params,), (v,))[1]


@functools.lru_cache(maxsize=64)
def _jitted_grad(loss_fn):
  return jax.jit(jax.grad(loss_fn))


def linearized_hvp(loss_fn, params, batch):
  """The linear map v ↦ H v, with the gradient's residuals computed once (`jax.linearize`).

  The gradient is a `jax.jit` of grad(loss_fn), cached per loss_fn, so that outside a jit the linearization runs as
  compiled programs, compiled once for all batches of the same shapes, instead of op by op (inside a jit the inner
  jit is inlined).
  """
  grad = _jitted_grad(hashable_fn(loss_fn))
  return jax.linearize(lambda p: grad(p, batch), params)[1]


def split_batch(batch, num: int) -> list:
  """A batch (arrays with a leading example axis) as a list of `num` microbatches of equal size.

  Memory dial for every Hessian estimate: the operator of a list linearizes one microbatch at a time (a scan when
  they share shapes), so the residuals alive at once are those of one microbatch, and the weighted sum over
  microbatches is exactly the Hessian of the batch's mean loss. The arithmetic is the same: measured on the
  benchmark transformer, 2 microbatches of 128 hold 1.9× the memory of the 256-example gradient where one batch
  holds 3.9×, at an equal or lower time per probe (benchmarks/bench_curvature.py).
  """
  n = jax.tree.leaves(batch)[0].shape[0]
  if num < 1 or n % num:
    raise ValueError(f"split_batch: {n} examples do not split into {num} equal microbatches")
  size = n // num
  return [jax.tree.map(lambda a, i=i: a[i * size:(i + 1) * size], batch) for i in range(num)]


def _as_batch_list(batches):
  """A Python list means several batches; anything else (array, dict, tuple (x, y), ...) is one batch."""
  return list(batches) if isinstance(batches, list) else [batches]


def batch_weights(batch_list) -> list[float]:
  """n_b / N for each batch: n_b is the leading dimension of the batch's first array leaf (1 if it has none)."""
  sizes = []
  for b in batch_list:
    dims = [jnp.shape(x)[0] for x in jax.tree.leaves(b) if jnp.ndim(x) >= 1]
    sizes.append(int(dims[0]) if dims else 1)
  total = sum(sizes)
  return [n / total for n in sizes]


def _weighted_sum(terms, weights):
  """Σ_b w_b term_b over pytrees (the weights are Python floats)."""
  out = jax.tree.map(lambda x: weights[0] * x, terms[0])
  for term, w in zip(terms[1:], weights[1:]):
    out = jax.tree.map(lambda acc, x, w=w: acc + w * x, out, term)
  return out


def hessian_matvec(loss_fn, params, batches, *, mask=None):
  """v ↦ Σ_b (n_b/N) H_b v, each batch linearized once now (memory: residuals of all batches)."""
  batch_list = _as_batch_list(batches)
  lins = [linearized_hvp(loss_fn, params, b) for b in batch_list]
  weights = batch_weights(batch_list)
  return masked_matvec(lambda v: _weighted_sum([lin(v) for lin in lins], weights), mask)


def operator_from_matvec(matvec, *, mask=None):
  """The operator of a plain matvec (optionally restricted to a mask): op(f) = f(matvec)."""
  mv = masked_matvec(matvec, mask)
  return lambda f: f(mv)


def _stackable(batch_list):
  shapes = [jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), b) for b in batch_list]
  try:
    return all(s == shapes[0] for s in shapes)
  except (TypeError, ValueError):
    return False


def hessian_operator(loss_fn, params, batches, *, mask=None):
  """The operator of the Hessian of the example-averaged loss: op(f) = Σ_b (n_b/N) f(linearized H_b [masked]).

  With one batch the gradient is linearized here (call it inside the jit that uses the operator); with several,
  on every op call, one batch at a time.
  """
  batch_list = _as_batch_list(batches)
  n = len(batch_list)

  def one(batch, f):
    return f(masked_matvec(linearized_hvp(loss_fn, params, batch), mask))

  if n == 1:  # Linearize now, once, and share it between all stages of an estimator.
    matvec = masked_matvec(linearized_hvp(loss_fn, params, batch_list[0]), mask)
    return lambda f: f(matvec)

  def op(f):
    if _stackable(batch_list):  # equal shapes, so equal weights 1/n: a scan keeps one batch's residuals alive
      stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *batch_list)
      init = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(lambda b: one(b, f), batch_list[0]))
      total, _ = lax.scan(lambda acc, b: (jax.tree.map(jnp.add, acc, one(b, f)), None), init, stacked)
      return jax.tree.map(lambda x: x / n, total)
    return _weighted_sum([one(b, f) for b in batch_list], batch_weights(batch_list))
  return op
