"""Sharpness measures against closed forms on quadratics, and against the Hessian's quadratic form at small ρ.

Quadratic L(θ) = ½(θ − θ*)ᵀA(θ − θ*) + gᵀ(θ − θ*): every antithetic sample of the average-case sharpness is exactly
½ρ² δᵀ C A C δ (the gradient term cancels), so the estimate converges to ρ² tr(CAC)/2; at the minimum (g = 0) of a
PSD A the worst case is ρ² λ_max(CAC)/2, attained along the top eigenvector. C = I (plain) or diag(|θ|) (adaptive).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flatness_curvature import average_sharpness, random_vector, synthetic, worst_case_sharpness
from tiny_models import dense_hessian, flat, make_mlp


def _quadratic(n=12, seed=0):
  rng = np.random.default_rng(seed)
  eig = np.concatenate([[4.0, 2.0], rng.uniform(0.1, 1.0, n - 2)])   # PSD, eigengap 2 at the top
  a = synthetic.random_symmetric(eig, seed=seed)
  star = rng.standard_normal(n) + 2.0                                 # away from 0: |θ| matters when adaptive
  loss = lambda th, batch: 0.5 * (th - batch["star"]) @ (batch["a"] @ (th - batch["star"])) + batch["g"] @ (
      th - batch["star"])  # noqa: E731
  return a, star, loss


@pytest.mark.parametrize("adaptive", [False, True])
def test_average_sharpness_on_a_quadratic(x64, adaptive):
  a, star, loss = _quadratic()
  rho, key, m = 0.1, jax.random.key(0), 400
  c = np.abs(star) if adaptive else np.ones_like(star)
  cac = c[:, None] * a * c[None, :]
  batch = {"a": jnp.asarray(a), "star": jnp.asarray(star), "g": jnp.asarray(np.linspace(-1, 1, len(star)))}
  est = average_sharpness(loss, jnp.asarray(star), batch, key, rho, num_samples=m, adaptive=adaptive)
  deltas = np.stack([np.asarray(random_vector(key, i, jnp.asarray(star), distribution="gaussian"))
                     for i in range(m)])
  samples = 0.5 * rho ** 2 * np.einsum("mi,ij,mj->m", deltas, cac, deltas)
  np.testing.assert_allclose(float(est.value), samples.mean(), rtol=1e-10)          # the gradient term cancelled
  np.testing.assert_allclose(float(est.stderr), samples.std(ddof=1) / np.sqrt(m), rtol=1e-8)
  exact = 0.5 * rho ** 2 * np.trace(cac)
  assert abs(float(est.value) - exact) < 4 * float(est.stderr), (float(est.value), exact)
  assert int(est.num_evaluations) == 2 * m + 1


@pytest.mark.parametrize("adaptive", [False, True])
def test_worst_case_sharpness_on_a_quadratic_at_its_minimum(x64, adaptive):
  a, star, loss = _quadratic()
  rho = 0.1
  c = np.abs(star) if adaptive else np.ones_like(star)
  cac = c[:, None] * a * c[None, :]
  lam, vecs = np.linalg.eigh(cac)
  batch = {"a": jnp.asarray(a), "star": jnp.asarray(star), "g": jnp.zeros(len(star))}
  res = worst_case_sharpness(loss, jnp.asarray(star), batch, jax.random.key(1), rho, num_steps=60, adaptive=adaptive,
                             step_size=20 * rho, rtol=1e-10)
  np.testing.assert_allclose(float(res.value), 0.5 * rho ** 2 * lam[-1], rtol=1e-8)
  delta = np.asarray(res.perturbation) / c                                          # ε = c ⊙ δ, δ on the sphere
  np.testing.assert_allclose(np.linalg.norm(delta), rho, rtol=1e-10)
  np.testing.assert_allclose(abs(delta @ vecs[:, -1]), rho, rtol=1e-6)
  assert bool(res.converged)


def test_small_rho_agrees_with_the_hessian(x64):
  """On a non-quadratic model the antithetic samples are ½ε ᵀHε + O(ρ⁴), and the worst case is
  ρ‖g‖ + ½ρ² ĝᵀHĝ + O(ρ³) (ĝ = g/‖g‖): both relative errors are O(ρ²), a quarter when ρ halves."""
  params, loss_fn, batch = make_mlp()
  h = dense_hessian(loss_fn, params, batch)[0]
  g = flat(jax.grad(loss_fn)(params, batch))
  gh = g / np.linalg.norm(g)
  key = jax.random.key(2)
  d = np.stack([flat(random_vector(key, i, params, distribution="gaussian")) for i in range(8)])
  quad = 0.5 * np.mean(np.einsum("mi,ij,mj->m", d, h, d))
  avg_err, worst_err = [], []
  for rho in (1e-2, 5e-3):
    avg = average_sharpness(loss_fn, params, batch, key, rho, num_samples=8)
    avg_err.append(abs(float(avg.value) / (rho ** 2 * quad) - 1))
    worst = worst_case_sharpness(loss_fn, params, batch, key, rho, num_steps=30, rtol=1e-6)
    taylor = rho * np.linalg.norm(g) + 0.5 * rho ** 2 * gh @ h @ gh
    worst_err.append(abs(float(worst.value) / taylor - 1))
  assert avg_err[0] < 1e-3 and avg_err[1] < 0.35 * avg_err[0], avg_err
  assert worst_err[0] < 1e-4 and worst_err[1] < 0.35 * worst_err[0], worst_err


def test_sharpness_arguments(x64):
  params, loss_fn, batch = make_mlp()
  with pytest.raises(ValueError, match="rho must be > 0"):
    average_sharpness(loss_fn, params, batch, jax.random.key(0), 0.0)
  with pytest.raises(ValueError, match="adaptive=True"):
    worst_case_sharpness(loss_fn, params, batch, jax.random.key(0), 0.1, eta=0.01)
