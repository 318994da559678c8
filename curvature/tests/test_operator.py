"""Operators over several batches: `bind` (every batch linearized once, the products of any g) against the dense
Hessian of the pooled batch in float64, and the size of its program, which must not grow with the number of
batches of one shape."""
import re

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from flatness_curvature import hessian_matvec, lanczos_eigenvalues
from tiny_models import dense_hessian, mlp_batch, mlp_loss, mlp_params, random_like


def _pooled(batches):
  return tuple(jnp.concatenate(parts) for parts in zip(*batches))


def test_bound_products_over_batches_are_the_pooled_hessians(x64):
  """Three batches of 8 (one shape: linearized as one vmapped program) and 16 + 8 (two shapes: one linearization
  each, weights 2/3 and 1/3): H v and the whole spectrum by Lanczos equal the pooled batch's dense Hessian."""
  params = mlp_params()
  for batches in ([mlp_batch(s, n=8) for s in (1, 2, 3)], [mlp_batch(4, n=16), mlp_batch(5, n=8)]):
    h = np.asarray(dense_hessian(mlp_loss, params, _pooled(batches))[0])
    op = hessian_matvec(mlp_loss, params, batches)
    assert op.stackable == (len(batches) == 3)
    v = random_like(params, seed=7)
    hv = jax.jit(lambda o, v: o.bind(lambda mv: mv(v)))(op, v)
    np.testing.assert_allclose(ravel_pytree(hv)[0], h @ ravel_pytree(v)[0], rtol=1e-10, atol=1e-12)
    n = h.shape[0]
    res = lanczos_eigenvalues(op, params, jax.random.key(0), k=n, num_iters=n)
    np.testing.assert_allclose(res.eigenvalues, np.linalg.eigvalsh(h)[::-1], atol=1e-10)


def _dots(num_batches: int) -> int:
  """Matrix products in the compiled Lanczos program of a Hessian over `num_batches` batches of one shape (after
  XLA's inlining: the lowered text holds a jitted linearization once however often it is called)."""
  params = mlp_params()
  batches = [mlp_batch(s, n=8) for s in range(num_batches)]
  text = jax.jit(lambda p, bs, k: lanczos_eigenvalues(hessian_matvec(mlp_loss, p, bs), p, k, 1, 4)).lower(
      params, batches, jax.random.key(0)).compile().as_text()
  return len(re.findall(r" dot\(", text))


def test_a_bound_operator_holds_one_linearization_whatever_the_number_of_batches():
  """Lanczos over 2 and over 6 batches of one shape compiles to the same number of matrix products: one vmapped
  linearization, not one per batch (compilation time grows with the program)."""
  assert _dots(2) == _dots(6) > 0
