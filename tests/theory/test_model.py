"""The check model's exact quantities against brute force (float64): Tr∇²L, the minimum on Γ, the noise covariance."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flatness_jax.theory import manifold, model
from tests.theory.points import perturbed


def test_closed_form_trace_equals_dense_hessian_trace_on_and_off_gamma(start):
  problem, theta = start
  for th in (theta, perturbed(theta), perturbed(theta, 0.5, 2)):
    dense = float(jnp.trace(model.hessian(th, problem)))
    assert abs(float(model.hessian_trace(th, problem)) - dense) < 1e-10 * dense


def test_start_is_on_gamma_at_the_population_minimum(start):
  problem, theta = start
  assert float(jnp.abs(manifold.constraint(theta, problem)).max()) < 1e-12
  assert abs(float(model.population_loss(theta, problem) - model.population_minimum(problem))) < 1e-10
  assert float(jnp.linalg.norm(jax.grad(model.population_loss)(theta, problem))) < 1e-10
  assert float(model.population_loss(perturbed(theta), problem) - model.population_minimum(problem)) > 1e-4


def test_hessian_null_space_is_the_tangent_space(start):
  """rank ∇²L = codim Γ = r(m + d) − r², and ∇²L vanishes on T_θΓ (Γ is a non-degenerate minimiser manifold)."""
  problem, theta = start
  hess = np.asarray(model.hessian(theta, problem))
  m, d = problem.teacher.shape
  r = model.rank_of(theta, problem)
  ev = np.linalg.eigvalsh(hess)
  assert np.sum(ev > 1e-8) == r * (m + d) - r * r and ev.min() > -1e-12
  assert np.abs(hess @ np.asarray(manifold.tangent_basis(theta, problem))).max() < 1e-12


@pytest.mark.parametrize("batch_size", [1, 4])
def test_noise_covariance_on_gamma_is_hessian_over_batch(start, batch_size):
  problem, theta = start
  hess = np.asarray(model.hessian(theta, problem))
  cov = np.asarray(model.noise_covariance(theta, problem, batch_size))
  assert np.abs(cov - hess / batch_size).max() < 1e-13
  off = perturbed(theta, 0.3)  # the identity is a property of Γ (Fisher = Hessian), not of the model
  assert np.abs(np.asarray(model.noise_covariance(off, problem)) - np.asarray(model.hessian(off, problem))).max() > 1e-3


def test_sampled_batch_gradients_have_mean_zero_and_covariance_hessian_over_b(start):
  """The sampler SGD uses: Monte Carlo mean and covariance of 4,000 batch-4 gradients at θ0 ∈ Γ."""
  problem, theta = start
  batch, draws = 4, 4000

  @jax.jit
  def grads(keys):
    def one(k):
      index, label = model.sample_batch(k, problem, batch)
      return jax.grad(model.batch_loss)(theta, problem, index, label)
    return jax.vmap(one)(keys)
  g = np.asarray(grads(jax.random.split(jax.random.key(3), draws)))
  target = np.asarray(model.hessian(theta, problem)) / batch
  cov = np.cov(g.T)
  scale = np.sqrt(np.diag(target))
  assert np.abs(g.mean(0) / scale).max() < 5 / np.sqrt(draws)  # each coordinate within 5 SE of 0
  assert np.linalg.norm(cov - target) < 0.08 * np.linalg.norm(target)  # ≈ 2.5% expected at 4,000 draws


def test_sampler_frequencies_match_the_population(start):
  problem, _ = start
  index, label = jax.jit(lambda k: model.sample_batch(k, problem, 200_000))(jax.random.key(0))
  joint = np.zeros(model.teacher_probs(problem).shape)
  np.add.at(joint, (np.asarray(index), np.asarray(label)), 1.0 / 200_000)
  expected = np.asarray(problem.weights)[:, None] * np.asarray(model.teacher_probs(problem))
  assert np.abs(joint - expected).max() < 5 * np.sqrt(expected.max() / 200_000)


def test_make_problem_rejects_a_rank_it_cannot_represent():
  with pytest.raises(ValueError, match="rank=3"):
    model.make_problem(0, num_classes=3, dim=3, rank=3)
