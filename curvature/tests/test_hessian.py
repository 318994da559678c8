"""Hessian-vector products and the Hessian operator against dense float64 Hessians (jax.hessian, raveled)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from flatness_curvature import hessian_matvec, hessian_trace, hvp, linearized_hvp
from tiny_models import dense_hessian, dense_matrix, flat, make_attention, make_mlp, random_like


def test_hvp_equals_dense_hessian_mlp(x64):
  params, loss_fn, batch = make_mlp()
  h, _ = dense_hessian(loss_fn, params, batch)
  v = random_like(params, 1)
  got = jax.jit(lambda p, v: (hvp(loss_fn, p, batch, v), linearized_hvp(loss_fn, p, batch)(v)))(params, v)
  for g in got + (hessian_matvec(loss_fn, params, batch)(v),):
    np.testing.assert_allclose(flat(g), h @ flat(v), rtol=1e-10, atol=1e-12)
  # The operator, column by column, is the dense Hessian.
  np.testing.assert_allclose(dense_matrix(hessian_matvec(loss_fn, params, batch), params), h, rtol=1e-10,
                             atol=1e-12)


@pytest.mark.slow
def test_hvp_equals_dense_hessian_attention(x64):
  params, loss_fn, batch = make_attention()
  h, _ = dense_hessian(loss_fn, params, batch)
  v = random_like(params, 2)
  got = jax.jit(lambda p, v: hvp(loss_fn, p, batch, v))(params, v)
  np.testing.assert_allclose(flat(got), h @ flat(v), rtol=1e-9, atol=1e-11)


def test_batch_averaged_operator(x64):
  """hessian_matvec over a list of batches = the Hessian of the mean loss over all examples: per-batch dense
  Hessians weighted by batch size (equal for equal batches — the scan path —, unequal for a short last batch)."""
  params, loss_fn, _ = make_mlp()
  batches = [make_mlp(seed=s)[2] for s in (1, 2, 3)]
  ragged = batches[:2] + [jax.tree.map(lambda a: a[:10], batches[2])]  # Not stackable: python loop path.
  v = random_like(params, 3)
  for bl in (batches, ragged):
    sizes = np.array([len(b[1]) for b in bl], float)
    pooled = tuple(np.concatenate([b[k] for b in bl]) for k in range(2))  # one batch of all examples
    h_all = dense_hessian(loss_fn, params, pooled)[0]
    weighted = sum(w * dense_hessian(loss_fn, params, b)[0] for w, b in zip(sizes / sizes.sum(), bl))
    np.testing.assert_allclose(weighted, h_all, rtol=1e-10, atol=1e-12)
    op = hessian_matvec(loss_fn, params, bl)
    assert op.stackable == (bl is batches)
    np.testing.assert_allclose(flat(op(v)), h_all @ flat(v), rtol=1e-10, atol=1e-12)
    # apply(f) (one batch linearized at a time) gives the same product.
    applied = jax.jit(lambda o: o.apply(lambda mv: mv(v)))(op)
    np.testing.assert_allclose(flat(applied), h_all @ flat(v), rtol=1e-10, atol=1e-12)
  assert sizes.tolist() == [16, 16, 10]


def test_uneven_batches_give_the_exact_trace_of_the_mean_loss(x64):
  """Hutch++ with a sketch spanning the whole space is exact: on batches of 5, 7 and 4 examples it must return the
  trace of the Hessian of the mean loss over the 16 examples (not the mean of the three batch Hessians' traces)."""
  params, loss_fn, batch = make_mlp()
  cuts = [(0, 5), (5, 12), (12, 16)]
  bl = [tuple(a[i:j] for a in batch) for i, j in cuts]
  exact = float(np.trace(dense_hessian(loss_fn, params, batch)[0]))
  unweighted = float(np.mean([np.trace(dense_hessian(loss_fn, params, b)[0]) for b in bl]))
  assert abs(unweighted - exact) > 1e-3 * abs(exact)  # the equal-weight answer differs
  n = ravel_pytree(params)[0].size
  est = hessian_trace(loss_fn, params, bl, jax.random.key(0), method="hutchpp", num_matvecs=3 * n + 2)
  np.testing.assert_allclose(float(est.value), exact, rtol=1e-9)


def test_loss_with_aux(x64):
  """has_aux=True takes (loss, aux); without it a tuple-returning loss is refused in one sentence."""
  params, loss_fn, batch = make_mlp()
  with_aux = lambda p, b: (loss_fn(p, b), {"logits_norm": jnp.sum(p["w1"] ** 2)})  # noqa: E731
  v = random_like(params, 4)
  h = dense_hessian(loss_fn, params, batch)[0]
  np.testing.assert_allclose(flat(hessian_matvec(with_aux, params, batch, has_aux=True)(v)), h @ flat(v),
                             rtol=1e-10, atol=1e-12)
  np.testing.assert_allclose(flat(hvp(with_aux, params, batch, v, has_aux=True)), h @ flat(v), rtol=1e-10,
                             atol=1e-12)
  with pytest.raises(TypeError, match="has_aux=True"):
    hessian_trace(with_aux, params, batch, jax.random.key(0), num_matvecs=4)
  with pytest.raises(TypeError, match="does not return a pair"):
    hessian_trace(loss_fn, params, batch, jax.random.key(0), num_matvecs=4, has_aux=True)
