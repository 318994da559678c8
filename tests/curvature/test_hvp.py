"""Hessian-vector products against dense float64 Hessians (jax.hessian on the raveled parameters)."""
import jax
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from flatness_jax.curvature import hessian_matvec, hessian_operator, hvp, linearized_hvp
from tests.curvature.tiny_models import dense_hessian, make_mlp, make_transformer


def _random_like(params, seed):
  flat, unravel = ravel_pytree(params)
  return unravel(jax.random.normal(jax.random.key(seed), flat.shape, flat.dtype))


def test_hvp_equals_dense_hessian_mlp(x64):
  params, loss_fn, batch = make_mlp()
  h, _ = dense_hessian(loss_fn, params, batch)
  v = _random_like(params, 1)
  expected = h @ ravel_pytree(v)[0]
  got = jax.jit(lambda p, v: (hvp(loss_fn, p, batch, v), linearized_hvp(loss_fn, p, batch)(v)))(params, v)
  for g in got:
    np.testing.assert_allclose(ravel_pytree(g)[0], expected, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_hvp_equals_dense_hessian_transformer(x64):
  params, loss_fn, batch = make_transformer()
  h, _ = dense_hessian(loss_fn, params, batch)
  v = _random_like(params, 2)
  got = jax.jit(lambda p, v: hvp(loss_fn, p, batch, v))(params, v)
  np.testing.assert_allclose(ravel_pytree(got)[0], h @ ravel_pytree(v)[0], rtol=1e-9, atol=1e-11)


def test_batch_averaged_operator(x64):
  """hessian_matvec / hessian_operator over a list of batches = the mean of the per-batch dense Hessians."""
  params, loss_fn, _ = make_mlp()
  batches = [make_mlp(seed=s)[2] for s in (1, 2, 3)]
  ragged = batches[:2] + [jax.tree.map(lambda a: a[:10], batches[2])]  # Not stackable: python loop path.
  v = _random_like(params, 3)
  for bl in (batches, ragged):
    mean_h = sum(np.asarray(dense_hessian(loss_fn, params, b)[0]) for b in bl) / len(bl)
    expected = mean_h @ ravel_pytree(v)[0]
    got = jax.jit(lambda p, b: hessian_matvec(loss_fn, p, b)(v))(params, bl)
    np.testing.assert_allclose(ravel_pytree(got)[0], expected, rtol=1e-10, atol=1e-12)
    op = jax.jit(lambda p, b: hessian_operator(loss_fn, p, b)(lambda mv: mv(v)))
    np.testing.assert_allclose(ravel_pytree(op(params, bl))[0], expected, rtol=1e-10, atol=1e-12)
