"""The GGN operator against Jᵀ ∇²_z ℓ J built from dense Jacobians, and against the Hessian where they agree."""
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from flatness_curvature import ggn_matvec, hessian_trace, trace_estimate
from tiny_models import dense_fisher, dense_hessian, dense_matrix, make_mlp, mlp_logits, xent


def _model(params, batch):
  return mlp_logits(params, batch[0])


def _xent_of_logits(logits, batch):
  return xent(logits, batch[1])


def test_ggn_of_cross_entropy_is_the_fisher(x64):
  """For softmax cross-entropy ∇²_z ℓ = (diag p − ppᵀ)/N, so G = the exact Fisher (dense, from J)."""
  params, _, batch = make_mlp()
  op = ggn_matvec(_model, _xent_of_logits, params, batch)
  np.testing.assert_allclose(dense_matrix(op, params), dense_fisher(mlp_logits, params, batch[0]), rtol=1e-10,
                             atol=1e-12)


def test_ggn_general_outputs_and_batches(x64):
  """A squared loss on two output arrays (a pytree z), over uneven batches: G = Σ_b w_b J_bᵀ ∇²ℓ_b J_b with the
  Jacobians and the output Hessians computed densely; for a model linear in θ, G equals the Hessian."""
  params, _, _ = make_mlp()

  def model(p, b):
    h = mlp_logits(p, b[0])
    return {"mean": h[:, :2], "scale": jnp.exp(h[:, 2:])}

  def loss(z, b):
    return jnp.mean(jnp.sum((z["mean"] - b[1][:, None]) ** 2, 1) + jnp.sum(z["scale"] ** 2, 1) ** 1.5)

  rng = np.random.default_rng(0)
  batches = [(jnp.asarray(rng.standard_normal((n, 3))), jnp.asarray(rng.standard_normal(n))) for n in (6, 3)]
  flat0, unravel = ravel_pytree(params)
  dense = 0.0
  for b in batches:
    z0, unravel_z = ravel_pytree(model(params, b))
    jac = jax.jit(jax.jacobian(lambda f, b: ravel_pytree(model(unravel(f), b))[0]))(flat0, b)
    hz = jax.jit(jax.hessian(lambda zz, b: loss(unravel_z(zz), b)))(z0, b)
    dense = dense + len(b[1]) / 9 * np.asarray(jac.T @ hz @ jac)
  np.testing.assert_allclose(dense_matrix(ggn_matvec(model, loss, params, batches), params), dense, rtol=1e-10,
                             atol=1e-12)
  # Linear model: no residual term, G = H, and traces agree.
  linear = lambda p, b: b[0] @ p["w1"]  # noqa: E731
  sq = lambda z, b: jnp.mean(jnp.sum((z - b[1][:, None]) ** 2, 1))  # noqa: E731
  full = lambda p, b: sq(linear(p, b), b)  # noqa: E731
  h = dense_hessian(full, params, batches[0])[0]
  np.testing.assert_allclose(dense_matrix(ggn_matvec(linear, sq, params, batches[0]), params), h, atol=1e-12)
  n = flat0.size
  exact = trace_estimate(ggn_matvec(linear, sq, params, batches[0]), params, jax.random.key(0), method="hutchpp",
                         num_matvecs=3 * n + 2)
  np.testing.assert_allclose(float(exact.value), np.trace(h), rtol=1e-9)
  np.testing.assert_allclose(float(hessian_trace(full, params, batches[0], jax.random.key(0), method="hutchpp",
                                                 num_matvecs=3 * n + 2).value), np.trace(h), rtol=1e-9)
