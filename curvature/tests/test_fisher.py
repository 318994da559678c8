"""Fisher operators (exact, Monte-Carlo with sampled labels, empirical with true labels) against dense Fishers
built from explicit logit Jacobians."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flatness_curvature import empirical_fisher_matvec, fisher_matvec, trace_estimate
from tiny_models import dense_fisher, dense_matrix, dense_score_outer, make_mlp, mlp_logits


@pytest.fixture
def mlp(x64):
  params, _, (x, y) = make_mlp()
  return params, x, y


def test_exact_fisher(mlp):
  params, x, _ = mlp
  np.testing.assert_allclose(dense_matrix(fisher_matvec(mlp_logits, params, x), params),
                             dense_fisher(mlp_logits, params, x), rtol=1e-10, atol=1e-12)


def test_monte_carlo_fisher_is_the_score_outer_product_of_its_labels_and_converges(mlp):
  """With a fixed key the operator is (1/(NS)) Σ g gᵀ for labels drawn from the model (reproduced here), and
  it converges to the exact Fisher as the number of samples grows (relative Frobenius error ~ 1/√S)."""
  params, x, _ = mlp
  key = jax.random.key(5)
  labels = jax.random.categorical(jax.random.fold_in(key, 0), jnp.log(jax.nn.softmax(mlp_logits(params, x))),
                                  shape=(3, x.shape[0]))
  op = fisher_matvec(mlp_logits, params, x, key=key, num_samples=3)
  np.testing.assert_allclose(dense_matrix(op, params), dense_score_outer(mlp_logits, params, x, np.asarray(labels)),
                             rtol=1e-10, atol=1e-12)
  exact = dense_fisher(mlp_logits, params, x)
  errors = [np.linalg.norm(dense_matrix(fisher_matvec(mlp_logits, params, x, key=key, num_samples=s), params)
                           - exact) / np.linalg.norm(exact) for s in (4, 256)]
  assert errors[1] < 0.25 * errors[0] and errors[1] < 0.1, errors


def test_empirical_fisher(mlp):
  params, x, y = mlp
  op = empirical_fisher_matvec(mlp_logits, params, (x, y))
  emp = dense_score_outer(mlp_logits, params, x, np.asarray(y)[None])
  np.testing.assert_allclose(dense_matrix(op, params), emp, rtol=1e-10, atol=1e-12)
  assert np.linalg.norm(emp - dense_fisher(mlp_logits, params, x)) > 0.1 * np.linalg.norm(emp)   # not the Fisher
  # Uneven batches: weighted by their examples.
  parts = [(x[:10], y[:10]), (x[10:], y[10:])]
  np.testing.assert_allclose(dense_matrix(empirical_fisher_matvec(mlp_logits, params, parts), params), emp,
                             rtol=1e-10, atol=1e-12)
  n = emp.shape[0]
  est = trace_estimate(op, params, jax.random.key(0), method="hutchpp", num_matvecs=3 * n + 2)
  np.testing.assert_allclose(float(est.value), np.trace(emp), rtol=1e-9)
