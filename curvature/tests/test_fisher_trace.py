"""Sampled-label Fisher trace = Hessian trace at a constructed global optimum, and not away from it.

Construction: a teacher MLP (a dict of parameters, tanh hidden layer, so logits are non-linear in θ and the
Hessian's second term is not identically zero) defines p*(y|x) on a fixed set of inputs. The population loss is the
exact expected cross-entropy L(θ) = (1/N) Σₙ Σ_y p*(y|xₙ) (−log p_θ(y|xₙ)), minimised (KL = 0) at θ = teacher, so
there Tr ∇²L = Tr F exactly.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flatness_curvature import fisher_trace, mask_by_regex
from tiny_models import dense_hessian, mlp_logits, mlp_params


def _problem(seed=0, n=256, d=3):
  x = jnp.asarray(np.random.default_rng(seed).standard_normal((n, d)))
  teacher = jax.tree.map(lambda a: 2.0 * a, mlp_params(seed, d, hidden=6, classes=4))
  p_star = jax.jit(lambda p: jax.nn.softmax(mlp_logits(p, x)))(teacher)

  def population_loss(params, batch):
    inputs, targets = batch
    return -jnp.mean(jnp.sum(targets * jax.nn.log_softmax(mlp_logits(params, inputs)), axis=-1))

  def exact_fisher_trace(params):
    """Σ_y p_θ(y|x) ‖∇ log p_θ(y|x)‖², averaged over x, by enumerating the labels."""
    def per_example(xi):
      logp = lambda p: jax.nn.log_softmax(mlp_logits(p, xi[None])[0])
      jac = jax.jacrev(logp)(params)
      sq = sum(jnp.sum(j.reshape(4, -1) ** 2, axis=1) for j in jax.tree.leaves(jac))
      return jnp.sum(jnp.exp(logp(params)) * sq)
    return jnp.mean(jax.vmap(per_example)(x))

  return teacher, x, p_star, population_loss, exact_fisher_trace


def test_fisher_equals_hessian_at_optimum_and_not_away(x64):
  teacher, x, p_star, loss, exact_fisher = _problem()
  rng = np.random.default_rng(9)
  perturbed = jax.tree.map(lambda a: a + rng.standard_normal(a.shape), teacher)
  results = {}
  exact_fisher = jax.jit(exact_fisher)
  for name, params in (("optimum", teacher), ("perturbed", perturbed)):
    hess = float(jnp.trace(dense_hessian(loss, params, (x, p_star))[0]))
    fisher = float(exact_fisher(params))
    est = fisher_trace(mlp_logits, params, x, jax.random.key(1), num_samples=64, chunk_size=64)
    results[name] = (hess, fisher, est)
    # The estimator is unbiased for Tr F: within 4 standard errors (dof 255).
    assert abs(float(est.value) - fisher) < 4 * float(est.stderr), (name, hess, fisher, est)
    assert int(est.num_matvecs) == 256 * 64 and int(est.dof) == 255
  hess, fisher, est = results["optimum"]
  assert abs(hess - fisher) < 1e-10 * abs(hess), results          # exact identity at the optimum
  assert float(est.stderr) < 0.05 * hess, results
  hess, fisher, est = results["perturbed"]
  assert abs(hess - fisher) > 0.2 * abs(hess), results            # Hessian ≠ Fisher away from it
  assert abs(float(est.value) - hess) > 4 * float(est.stderr), results


@pytest.mark.slow
def test_fisher_mask_and_sampling_reproducible(x64):
  teacher, x, _, _, _ = _problem(seed=1, n=16)
  key = jax.random.key(2)
  a = fisher_trace(mlp_logits, teacher, x, key, num_samples=2, chunk_size=16)
  b = fisher_trace(mlp_logits, teacher, x, key, num_samples=2, chunk_size=3)
  np.testing.assert_allclose([a.value, a.stderr], [b.value, b.stderr], rtol=1e-12)   # chunking-invariant
  none = jax.tree.map(lambda _: False, teacher)
  assert float(fisher_trace(mlp_logits, teacher, x, key, mask=none).value) == 0.0
  kernels = fisher_trace(mlp_logits, teacher, x, key, num_samples=2, mask=mask_by_regex(teacher, include="w"))
  assert 0 < float(kernels.value) < float(a.value)
