"""Damped inverse products by CG against dense solves, and the converged flag when CG cannot converge."""
import jax.numpy as jnp
import numpy as np
import pytest

from flatness_curvature import ConvergenceWarning, cg_solve, inverse_hvp, synthetic
from tiny_models import dense_hessian, flat, make_mlp, random_like


def test_inverse_hvp_equals_dense_solve(x64):
  params, loss_fn, batch = make_mlp()
  h = dense_hessian(loss_fn, params, batch)[0]
  v = random_like(params, 1)
  res = inverse_hvp(loss_fn, params, batch, v, damping=0.5, rtol=1e-10, max_iters=200)
  expected = np.linalg.solve(h + 0.5 * np.eye(len(h)), flat(v))
  np.testing.assert_allclose(flat(res.x), expected, rtol=1e-7, atol=1e-9)
  assert bool(res.converged) and float(res.residual_norm) <= 1e-10 * np.linalg.norm(flat(v))
  assert 0 < int(res.num_iters) <= 200
  # The residual reported is the true one.
  np.testing.assert_allclose(float(res.residual_norm),
                             np.linalg.norm(flat(v) - (h + 0.5 * np.eye(len(h))) @ flat(res.x)), rtol=1e-6,
                             atol=1e-14)


def test_cg_flags_what_it_cannot_solve(x64):
  a = jnp.asarray(synthetic.random_symmetric(synthetic.spectrum("indefinite", 40), seed=0))
  b = jnp.ones(40)
  with pytest.warns(ConvergenceWarning, match="cg_solve"):
    res = cg_solve(lambda v: a @ v, b, rtol=1e-8, max_iters=100)        # indefinite, no damping
  assert not bool(res.converged)
  with pytest.warns(ConvergenceWarning, match="max_iters=3"):
    res = cg_solve(lambda v: a @ v, b, damping=2.0, rtol=1e-12, max_iters=3)
  assert not bool(res.converged) and int(res.num_iters) == 3
  res = cg_solve(lambda v: a @ v, b, damping=2.0, rtol=1e-10, max_iters=100)   # a + 2I is positive definite
  np.testing.assert_allclose(np.asarray(res.x), np.linalg.solve(np.asarray(a) + 2 * np.eye(40), np.ones(40)),
                             rtol=1e-8)
  with pytest.raises(ValueError, match="damping must be >= 0"):
    cg_solve(lambda v: v, b, damping=-1.0)
