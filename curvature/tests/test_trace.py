"""Trace estimators on Hessians of tiny models, checked against dense float64 Hessians."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from flatness_curvature import (ConvergenceWarning, hessian_trace, mask_by_regex, masked_matvec, random_vector,
                                trace_estimate)
from convergence import check_estimator_convergence
from tiny_models import dense_hessian, make_attention, make_mlp

# Hutch++ at 3n + 2 matvecs has a sketch as large as the dimension n = 68: it spans range(H) and is exact.
BUDGETS = {"hutchinson": (4, 1024), "hutchpp": (6, 3 * 68 + 2), "xtrace": (6, 120)}
FINAL_RTOL = {"hutchinson": 0.03, "hutchpp": 1e-10, "xtrace": 2e-3}


@pytest.fixture
def mlp(x64):
  params, loss_fn, batch = make_mlp()
  h, unravel = dense_hessian(loss_fn, params, batch)
  return params, loss_fn, batch, np.asarray(h), unravel


@pytest.mark.parametrize("method", ["hutchinson", "hutchpp", "xtrace"])
def test_converges_to_exact_trace_mlp(mlp, method):
  params, loss_fn, batch, h, _ = mlp
  check_estimator_convergence(
      lambda k, m: hessian_trace(loss_fn, params, batch, k, method=method, num_matvecs=m, chunk_size=128),
      BUDGETS[method], np.trace(h), final_rtol=FINAL_RTOL[method])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["hutchinson", "hutchpp", "xtrace"])
def test_converges_to_exact_trace_attention(x64, method):
  params, loss_fn, batch = make_attention()
  h = np.asarray(dense_hessian(loss_fn, params, batch)[0])
  n = h.shape[0]
  budgets = {"hutchinson": (10, 1000), "hutchpp": (30, 3 * n + 2), "xtrace": (30, 2 * n - 100)}[method]
  final = {"hutchinson": 0.15, "hutchpp": 1e-8, "xtrace": 0.01}[method]
  check_estimator_convergence(
      lambda k, m: hessian_trace(loss_fn, params, batch, k, method=method, num_matvecs=m, chunk_size=100),
      budgets, np.trace(h), final_rtol=final, num_seeds=4, shrink=0.2)


@pytest.mark.slow
def test_same_vectors_whatever_the_chunking_and_batching(mlp):
  """Random vectors depend on (key, index) only, so a list of batches with chunk_size 7 gives the same estimate as a
  dense matvec with the averaged Hessian and chunk_size 64 (same vectors: equal up to rounding)."""
  params, loss_fn, _, _, unravel = mlp
  key = jax.random.key(3)
  batches = [make_mlp(seed=s)[2] for s in (4, 5)]
  mean_h = sum(np.asarray(dense_hessian(loss_fn, params, b)[0]) for b in batches) / 2
  dense_mv = lambda v: unravel(jnp.asarray(mean_h) @ ravel_pytree(v)[0])
  ref = trace_estimate(dense_mv, params, key, method="hutchpp", num_matvecs=21, chunk_size=64)
  est = hessian_trace(loss_fn, params, batches, key, method="hutchpp", num_matvecs=21, chunk_size=5)
  np.testing.assert_allclose([est.value, est.stderr], [ref.value, ref.stderr], rtol=1e-9)
  assert int(est.num_matvecs) == int(ref.num_matvecs) == 21


@pytest.mark.slow  # The README example runs adaptive Hutch++ in the default tier.
@pytest.mark.parametrize("method", ["hutchinson", "hutchpp", "xtrace"])
def test_adaptive_stops_at_rtol(mlp, method):
  params, loss_fn, batch, h, _ = mlp
  est = hessian_trace(loss_fn, params, batch, jax.random.key(1), method=method, rtol=0.03, num_matvecs=12,
                      chunk_size=8, max_matvecs=4000)
  assert float(est.stderr) <= 0.03 * abs(float(est.value))
  assert int(est.num_matvecs) < 4000 and bool(est.converged)
  assert abs(float(est.value) - np.trace(h)) < 4 * float(est.stderr) + 1e-12
  with pytest.warns(ConvergenceWarning, match="not reached"):
    capped = hessian_trace(loss_fn, params, batch, jax.random.key(1), method=method, rtol=1e-6, num_matvecs=12,
                           chunk_size=8, max_matvecs=20)
  assert int(capped.num_matvecs) <= 20 + 16 and float(capped.stderr) > 1e-6 * abs(float(capped.value))
  assert not bool(capped.converged)


def test_mask_restricts_operator(mlp):
  """With mask = kernels only, the estimators see P H P: full-budget Hutch++ gives Σ of the kernels' diagonal."""
  params, loss_fn, batch, h, unravel = mlp
  mask = mask_by_regex(params, include="w")
  assert jax.tree.leaves(mask) == [False, False, True, True]  # b1, b2, w1, w2 (sorted keys)
  p = np.concatenate([np.full(x.size, float(m)) for x, m in zip(jax.tree.leaves(params), jax.tree.leaves(mask))])
  exact = float(np.sum(np.diag(h) * p))
  est = hessian_trace(loss_fn, params, batch, jax.random.key(0), method="hutchpp", num_matvecs=3 * int(p.sum()) + 2,
                      mask=mask, chunk_size=64)
  assert abs(float(est.value) - exact) < 1e-9 * np.abs(h).sum()
  v = np.cos(np.arange(h.shape[0]))
  mv = jax.jit(masked_matvec(lambda u: unravel(jnp.asarray(h) @ ravel_pytree(u)[0]), mask))
  np.testing.assert_allclose(ravel_pytree(mv(unravel(jnp.asarray(v))))[0], p * (h @ (p * v)), rtol=1e-12)


def test_validation_errors(mlp):
  params, loss_fn, batch, _, _ = mlp
  with pytest.raises(ValueError, match="num_matvecs"):
    hessian_trace(loss_fn, params, batch, jax.random.key(0))
  with pytest.raises(ValueError, match="method"):
    hessian_trace(loss_fn, params, batch, jax.random.key(0), method="hutch", num_matvecs=10)


@pytest.mark.parametrize("rtol", [0.0, -0.1])
def test_rtol_must_be_positive(rtol):
  params = {"w": jnp.ones(3)}
  with pytest.raises(ValueError, match="rtol=.*must be > 0"):
    trace_estimate(lambda v: v, params, jax.random.key(0), num_matvecs=4, rtol=rtol)


def test_one_hutchinson_vector_is_a_value_without_an_error_bar(mlp):
  params, loss_fn, batch, h, unravel = mlp
  est = hessian_trace(loss_fn, params, batch, jax.random.key(4), method="hutchinson", num_matvecs=1)
  z = ravel_pytree(random_vector(jax.random.key(4), 0, params))[0]
  np.testing.assert_allclose(float(est.value), float(z @ h @ z), rtol=1e-10)
  assert int(est.num_matvecs) == 1 and not np.isfinite(float(est.stderr))
  for method in ("hutchpp", "xtrace"):
    with pytest.raises(ValueError, match="num_matvecs >= 2"):
      hessian_trace(loss_fn, params, batch, jax.random.key(4), method=method, num_matvecs=1)
