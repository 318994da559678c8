"""Γ = {UV = W*}: retraction and nearest point land on Γ, the tangent projector and the normal space of ∇²L."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import linalg, optimize

from flatness_jax.theory import manifold, model
from tests.theory.points import perturbed


def test_retract_and_nearest_point_land_on_gamma(start):
  problem, theta = start
  off = perturbed(theta)
  for y in (manifold.retract(off, problem), manifold.nearest_point(off, problem)):
    assert float(jnp.abs(manifold.constraint(y, problem)).max()) < 1e-12
    assert abs(float(model.population_loss(y, problem) - model.population_minimum(problem))) < 1e-10


def test_nearest_point_is_the_minimum_over_the_orbit(start):
  """Brute force: min over G ∈ GL(r) of ‖θ − (U_y G, G⁻¹ V_y)‖ (scipy, from G = I) equals distance(θ)."""
  problem, theta = start
  off = perturbed(theta, 0.2, 4)
  y = manifold.nearest_point(off, problem)
  assert float(jnp.abs(manifold.project_tangent(y, problem, off - y)).max()) < 1e-12  # θ − y ⟂ T_yΓ
  u, v = (np.asarray(a) for a in model.unflatten(y, problem))
  r = u.shape[1]

  def dist2(a):
    g = linalg.expm(a.reshape(r, r))
    return np.sum((np.asarray(off) - np.concatenate([(u @ g).ravel(), (np.linalg.inv(g) @ v).ravel()])) ** 2)
  best = optimize.minimize(dist2, np.zeros(r * r) + 0.05, method="BFGS", options={"gtol": 1e-12})
  assert abs(np.sqrt(best.fun) - float(manifold.distance(off, problem))) < 1e-8


def test_tangent_projector_is_the_orthogonal_projector_onto_null_j(start):
  problem, theta = start
  p = np.asarray(manifold.tangent_projector(theta, problem))
  jac = np.asarray(jax.jacfwd(manifold.constraint)(theta, problem))
  r = model.rank_of(theta, problem)
  assert np.abs(p @ p - p).max() < 1e-12 and np.abs(p - p.T).max() < 1e-12
  assert abs(np.trace(p) - r * r) < 1e-10 and np.abs(jac @ p).max() < 1e-12


def test_projected_gradient_of_the_trace_is_orthogonal_to_the_normal_space(start):
  """Normal space from the Hessian's eigenvectors (λ > 0), independent of the parameterisation's tangent basis."""
  problem, theta = start
  ev, vecs = np.linalg.eigh(np.asarray(model.hessian(theta, problem)))
  normal = vecs[:, ev > 1e-8]
  grad = np.asarray(model.hessian_trace_gradient(theta, problem))
  projected = np.asarray(manifold.project_tangent(theta, problem, jnp.asarray(grad)))
  assert np.abs(normal.T @ projected).max() < 1e-12 * np.linalg.norm(grad)
  assert np.linalg.norm(normal.T @ grad) > 0.1 * np.linalg.norm(grad)  # the raw gradient has a normal part
  assert np.linalg.norm(projected) > 0.1 * np.linalg.norm(grad)       # and a tangent part: the flow moves
