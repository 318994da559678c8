"""Hessian-vector products against dense float64 Hessians (jax.hessian on the raveled parameters)."""
import jax
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from flatness_curvature import hessian_matvec, hessian_operator, hvp, linearized_hvp
from tiny_models import dense_hessian, make_mlp, make_transformer


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
  """hessian_matvec / hessian_operator over a list of batches = the Hessian of the mean loss over all examples:
  per-batch dense Hessians weighted by batch size (equal for equal batches, unequal for a short last batch)."""
  params, loss_fn, _ = make_mlp()
  batches = [make_mlp(seed=s)[2] for s in (1, 2, 3)]
  ragged = batches[:2] + [jax.tree.map(lambda a: a[:10], batches[2])]  # Not stackable: python loop path.
  v = _random_like(params, 3)
  for bl in (batches, ragged):
    sizes = np.array([len(b[1]) for b in bl], float)
    pooled = tuple(np.concatenate([b[k] for b in bl]) for k in range(2))  # one batch of all examples
    h_all = np.asarray(dense_hessian(loss_fn, params, pooled)[0])
    weighted = sum(w * np.asarray(dense_hessian(loss_fn, params, b)[0]) for w, b in zip(sizes / sizes.sum(), bl))
    np.testing.assert_allclose(weighted, h_all, rtol=1e-10, atol=1e-12)
    expected = h_all @ ravel_pytree(v)[0]
    got = jax.jit(lambda p, b: hessian_matvec(loss_fn, p, b)(v))(params, bl)
    np.testing.assert_allclose(ravel_pytree(got)[0], expected, rtol=1e-10, atol=1e-12)
    op = jax.jit(lambda p, b: hessian_operator(loss_fn, p, b)(lambda mv: mv(v)))
    np.testing.assert_allclose(ravel_pytree(op(params, bl))[0], expected, rtol=1e-10, atol=1e-12)
  assert sizes.tolist() == [16, 16, 10]


def test_uneven_batches_give_the_exact_trace_of_the_mean_loss(x64):
  """Hutch++ with a sketch spanning the whole space is exact: on batches of 5, 7 and 4 examples it must return the
  trace of the Hessian of the mean loss over the 16 examples (not the mean of the three batch Hessians' traces)."""
  from flatness_curvature import hessian_trace  # pylint: disable=g-import-not-at-top
  params, loss_fn, batch = make_mlp()
  cuts = [(0, 5), (5, 12), (12, 16)]
  bl = [tuple(a[i:j] for a in batch) for i, j in cuts]
  exact = float(np.trace(np.asarray(dense_hessian(loss_fn, params, batch)[0])))
  unweighted = float(np.mean([np.trace(np.asarray(dense_hessian(loss_fn, params, b)[0])) for b in bl]))
  assert abs(unweighted - exact) > 1e-3 * abs(exact)  # the old, equal-weight answer differs
  n = ravel_pytree(params)[0].size
  est = hessian_trace(loss_fn, params, bl, jax.random.key(0), method="hutchpp", num_matvecs=3 * n + 2)
  np.testing.assert_allclose(float(est.value), exact, rtol=1e-9)


def test_split_batch_gives_the_same_operator_in_less_memory(x64):
  params, loss_fn, batch = make_mlp()
  from flatness_curvature import split_batch  # pylint: disable=g-import-not-at-top
  parts = split_batch(batch, 4)
  assert [len(p[1]) for p in parts] == [4, 4, 4, 4]
  v = _random_like(params, 5)
  whole = jax.jit(lambda p: hessian_operator(loss_fn, p, batch)(lambda mv: mv(v)))(params)
  split = jax.jit(lambda p: hessian_operator(loss_fn, p, parts)(lambda mv: mv(v)))(params)
  np.testing.assert_allclose(ravel_pytree(split)[0], ravel_pytree(whole)[0], rtol=1e-10, atol=1e-12)
  with pytest.raises(ValueError, match="do not split into 3"):
    split_batch(batch, 3)
