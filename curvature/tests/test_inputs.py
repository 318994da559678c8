"""Inputs checked before any work: keys, argument order, parameter dtypes and model state, losses, settings, bf16.

Each wrong input is one sentence naming the argument; each right input in an unusual form (a legacy key, bf16
parameters) gives the right answer.
"""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flatness_curvature as fc
from tiny_models import dense_hessian, make_mlp


@pytest.fixture
def mlp(x64):
  return make_mlp()


def test_keys(mlp):
  params, loss_fn, batch = mlp
  calls = {
      "hessian_trace": lambda k: fc.hessian_trace(loss_fn, params, batch, k, num_matvecs=4),
      "trace_estimate": lambda k: fc.trace_estimate(lambda v: v, params, k, num_matvecs=4),
      "lanczos_eigenvalues": lambda k: fc.lanczos_eigenvalues(lambda v: v, params, k, 1, 4),
      "diagonal_estimate": lambda k: fc.diagonal_estimate(lambda v: v, params, k, num_matvecs=4),
      "average_sharpness": lambda k: fc.average_sharpness(loss_fn, params, batch, k, 0.1, num_samples=2),
  }
  for name, call in calls.items():
    with pytest.raises(TypeError, match=r"key must be a jax.random key, e.g. jax.random.key\(0\), not the integer"):
      call(0)
    with pytest.raises(TypeError, match="key must be a jax.random key"):
      call("0")
  with pytest.raises(ValueError, match="a single jax.random key"):
    fc.trace_estimate(lambda v: v, params, jax.random.split(jax.random.key(0), 3), num_matvecs=4)
  # A legacy uint32[2] key is the same key.
  legacy = fc.hessian_trace(loss_fn, params, batch, jax.random.PRNGKey(3), num_matvecs=4)
  typed = fc.hessian_trace(loss_fn, params, batch, jax.random.key(3), num_matvecs=4)
  assert float(legacy.value) == float(typed.value)


def test_argument_order(mlp):
  params, loss_fn, batch = mlp
  with pytest.raises(TypeError, match="batches is a jax.random key: the arguments seem swapped"):
    fc.hessian_trace(loss_fn, params, jax.random.key(0), batch, num_matvecs=4)
  with pytest.raises(TypeError, match="loss_fn must be a function"):
    fc.hessian_trace(params, loss_fn, batch, jax.random.key(0), num_matvecs=4)
  with pytest.raises(TypeError, match="params is a function"):
    fc.hessian_matvec(loss_fn, loss_fn, batch)


def test_parameters_must_be_floating_point_arrays(mlp):
  params, loss_fn, batch = mlp
  with pytest.raises(TypeError, match=r"params: leaf 'step' has dtype int(32|64): .*floating-point parameters"):
    fc.hessian_trace(lambda p, b: loss_fn({k: v for k, v in p.items() if k != "step"}, b),
                     {**params, "step": jnp.asarray(3)}, batch, jax.random.key(0), num_matvecs=4)
  with pytest.raises(TypeError, match=r"params: leaf 'scale' is the float 2.0, not an array"):
    fc.hessian_matvec(loss_fn, {**params, "scale": 2.0}, batch)
  with pytest.raises(TypeError, match=r"like: leaf 'b' has dtype bool"):
    fc.trace_estimate(lambda v: v, {"a": jnp.ones(3), "b": jnp.ones(3, bool)}, jax.random.key(0), num_matvecs=4)


def test_linen_style_variables_are_refused(mlp):
  """A dict holding 'params' and 'batch_stats' is flax.linen variables: the Hessian would include the statistics."""
  params, loss_fn, batch = mlp
  variables = {"params": params, "batch_stats": {"mean": jnp.zeros(8), "var": jnp.ones(8)}}
  with pytest.raises(ValueError, match=r"flax.linen variables.*\['batch_stats'\].*linen_loss"):
    fc.hessian_trace(lambda v, b: loss_fn(v["params"], b), variables, batch, jax.random.key(0), num_matvecs=4)


def test_loss_must_return_a_scalar(mlp):
  params, _, batch = mlp
  per_example = lambda p, b: jnp.sum(b[0] @ p["w1"], axis=1)  # noqa: E731
  with pytest.raises(TypeError, match=r"loss_fn must return a floating-point scalar .* shape \(16,\)"):
    fc.hessian_trace(per_example, params, batch, jax.random.key(0), num_matvecs=4)


def test_settings_are_checked_before_compiling(mlp):
  params, loss_fn, batch = mlp
  key = jax.random.key(0)
  for kw, match in ((dict(method="hutchpp", num_matvecs=3), "hutchpp needs num_matvecs >= 4"),
                    (dict(method="xtrace", num_matvecs=4), "xtrace needs num_matvecs >= 6"),
                    (dict(num_matvecs=4, chunk_size=0), "chunk_size must be an integer >= 1"),
                    (dict(num_matvecs=4, distribution="normal"), "distribution must be one of")):
    with pytest.raises(ValueError, match=match):
      fc.hessian_trace(loss_fn, params, batch, key, **kw)
  with pytest.raises(ValueError, match="need 1 <= k <= num_iters"):
    fc.lanczos_eigenvalues(lambda v: v, params, key, 5, 4)


def test_adaptive_estimate_that_misses_rtol_says_so(mlp):
  """rtol not met within max_matvecs: converged=False and a ConvergenceWarning with the reached relative SE."""
  params, loss_fn, batch = mlp
  with pytest.warns(fc.ConvergenceWarning, match=r"rtol=0.001 not reached within max_matvecs=40"):
    est = fc.hessian_trace(loss_fn, params, batch, jax.random.key(1), rtol=1e-3, max_matvecs=40)
  assert not bool(est.converged) and float(est.stderr) > 1e-3 * abs(float(est.value))
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    ok = fc.hessian_trace(loss_fn, params, batch, jax.random.key(1), rtol=0.5, max_matvecs=400)
  assert bool(ok.converged) and float(ok.stderr) <= 0.5 * abs(float(ok.value))
  # Inside a user's jit the warning comes from the compiled program.
  with pytest.warns(fc.ConvergenceWarning, match="not reached"):
    jitted = jax.jit(lambda p, k: fc.hessian_trace(loss_fn, p, batch, k, rtol=1e-3, max_matvecs=40))
    assert not bool(jax.block_until_ready(jitted(params, jax.random.key(1))).converged)


def test_hutchpp_adaptive_needs_no_initial_budget(mlp):
  params, loss_fn, batch = mlp
  est = fc.hessian_trace(loss_fn, params, batch, jax.random.key(2), method="hutchpp", rtol=0.3)
  assert bool(est.converged) and int(est.num_matvecs) >= 20      # sketch of 10 vectors, 2 products each


def test_bf16_parameters_are_worked_in_float32():
  """bf16 parameters: vectors and sums in float32, so the identity's trace over 10,000 entries is exact (a bf16
  sum cannot even represent 10,000), Lanczos runs (no bf16 eigh) and agrees with float32."""
  like = {"a": jnp.zeros((100, 100), jnp.bfloat16)}
  est = fc.trace_estimate(lambda v: v, like, jax.random.key(0), num_matvecs=2)
  assert float(est.value) == 10000.0 and est.value.dtype == jnp.float32
  params32, loss_fn, batch = make_mlp()
  params32 = jax.tree.map(lambda x: x.astype(jnp.float32), params32)
  batch = jax.tree.map(lambda x: x.astype(jnp.float32) if x.dtype == jnp.float64 else x, batch)
  params16 = jax.tree.map(lambda x: x.astype(jnp.bfloat16), params32)
  top16 = fc.lanczos_eigenvalues(fc.hessian_matvec(loss_fn, params16, batch), params16, jax.random.key(1), 1, 30)
  top32 = fc.lanczos_eigenvalues(fc.hessian_matvec(loss_fn, params32, batch), params32, jax.random.key(1), 1, 30)
  assert top16.eigenvalues.dtype == jnp.float32
  np.testing.assert_allclose(float(top16.eigenvalues[0]), float(top32.eigenvalues[0]), rtol=0.05)
  # Same random vectors (Rademacher, exact in bf16): the bf16 Hutchinson estimate is the float32 one to bf16 error.
  t16 = fc.hessian_trace(loss_fn, params16, batch, jax.random.key(2), num_matvecs=50)
  t32 = fc.hessian_trace(loss_fn, params32, batch, jax.random.key(2), num_matvecs=50)
  np.testing.assert_allclose(float(t16.value), float(t32.value), rtol=0.05)
  with jax.enable_x64(True):
    h = dense_hessian(loss_fn, make_mlp()[0], make_mlp()[2])[0]
  assert abs(float(t32.value) - np.trace(h)) < 4 * float(t32.stderr)
