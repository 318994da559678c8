"""Lanczos eigenvalues and SLQ against numpy eigh of dense float64 Hessians."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from flatness_curvature import (ConvergenceWarning, hessian_matvec, lanczos_eigenvalues, mask_by_regex, random_vector,
                                slq_density)
from tiny_models import dense_hessian, make_attention, make_mlp


@pytest.fixture
def mlp(x64):
  params, loss_fn, batch = make_mlp()
  h, unravel = dense_hessian(loss_fn, params, batch)
  h = np.asarray(h)
  matvec = lambda v: unravel(jnp.asarray(h) @ ravel_pytree(v)[0])
  return params, h, matvec


def test_full_run_recovers_whole_spectrum(mlp):
  params, h, matvec = mlp
  n = h.shape[0]
  res = lanczos_eigenvalues(matvec, params, jax.random.key(0), k=n, num_iters=n)
  np.testing.assert_allclose(res.eigenvalues, np.linalg.eigvalsh(h)[::-1], atol=1e-10)


@pytest.mark.parametrize("which", ["largest", pytest.param("smallest", marks=pytest.mark.slow),
                                   pytest.param("magnitude", marks=pytest.mark.slow)])
def test_top_k_and_residuals(mlp, which):
  params, h, matvec = mlp
  exact = np.linalg.eigvalsh(h)
  order = {"largest": np.argsort(-exact), "smallest": np.argsort(exact), "magnitude": np.argsort(-np.abs(exact))}
  res = lanczos_eigenvalues(matvec, params, jax.random.key(1), k=3, num_iters=40, which=which,
                            return_vectors=True)
  np.testing.assert_allclose(res.eigenvalues, exact[order[which]][:3], rtol=1e-8, atol=1e-10)
  # Reported residual norms are the true ‖A x − θ x‖ of unit Ritz vectors.
  x = np.concatenate([np.asarray(l).reshape(3, -1) for l in jax.tree.leaves(res.eigenvectors)], axis=1)
  np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-10)
  true_resid = np.linalg.norm(x @ h - np.asarray(res.eigenvalues)[:, None] * x, axis=1)
  np.testing.assert_allclose(res.residual_norms, true_resid, atol=1e-9)
  assert np.all(np.asarray(res.converged))


def test_unconverged_ritz_values_are_flagged(mlp):
  """Too few steps for the top eigenvalue: converged False, with a warning naming the residuals."""
  params, h, matvec = mlp
  with pytest.warns(ConvergenceWarning, match="num_iters=3 steps"):
    res = lanczos_eigenvalues(matvec, params, jax.random.key(1), k=2, num_iters=3)
  assert not np.all(np.asarray(res.converged))
  top = np.linalg.eigvalsh(h)[-1]
  assert np.asarray(res.residual_norms)[0] > 1e-3 * abs(float(res.eigenvalues[0]))
  assert float(res.eigenvalues[0]) <= top + 1e-12


@pytest.mark.slow
def test_masked_spectrum(mlp):
  params, h, matvec = mlp
  mask = mask_by_regex(params, exclude="bias")
  keep = np.concatenate([np.full(x.size, m) for x, m in zip(jax.tree.leaves(params), jax.tree.leaves(mask))])
  sub = np.linalg.eigvalsh(h[np.ix_(keep, keep)])[::-1]
  res = lanczos_eigenvalues(matvec, params, jax.random.key(2), k=keep.sum(), num_iters=int(keep.sum()), mask=mask)
  np.testing.assert_allclose(res.eigenvalues, sub, atol=1e-10)


def test_slq(mlp):
  """With num_iters = n, Σⱼ τⱼ f(θⱼ) = vᵀ f(A) v / ‖v‖² for every f (Gauss quadrature of degree 2n − 1 ≥ spectrum);
  the smoothed density integrates to 1; n Σ τ θ = n α₁ = vᵀAv, the Hutchinson samples of the same start vectors."""
  params, h, matvec = mlp
  n = h.shape[0]
  key = jax.random.key(4)
  dens = slq_density(matvec, params, key, num_vectors=3, num_iters=n)
  assert dens.dim == n
  lam, u = np.linalg.eigh(h)
  starts = np.asarray(jax.jit(lambda k: jax.vmap(
      lambda l: ravel_pytree(random_vector(jax.random.fold_in(k, l), 0, params))[0])(jnp.arange(3)))(key))
  for l, v in enumerate(starts):
    w = (u.T @ v) ** 2 / (v @ v)
    for f in (lambda t: t ** 3, np.exp):
      np.testing.assert_allclose(np.sum(dens.weights[l] * f(np.asarray(dens.nodes[l]))), np.sum(w * f(lam)),
                                 rtol=1e-9)
  grid = np.linspace(-3, 3, 4001)
  np.testing.assert_allclose(np.trapezoid(np.asarray(dens.density(grid, sigma=0.05)), grid), 1.0, rtol=1e-6)
  samples = [v @ h @ v for v in starts]
  np.testing.assert_allclose(dens.expectation(), np.mean(samples), rtol=1e-9)
  # trace(): the same value with the error bar of the i.i.d. Hutchinson samples of the start vectors.
  tr = dens.trace()
  np.testing.assert_allclose([tr.value, tr.stderr], [np.mean(samples), np.std(samples, ddof=1) / np.sqrt(3)],
                             rtol=1e-9)
  assert int(tr.dof) == 2 and int(tr.num_matvecs) == 3 * n


@pytest.mark.slow
def test_attention_top_eigenvalues(x64):
  params, loss_fn, batch = make_attention()
  h = np.asarray(dense_hessian(loss_fn, params, batch)[0])
  exact = np.linalg.eigvalsh(h)[::-1][:3]
  res = lanczos_eigenvalues(hessian_matvec(loss_fn, params, batch), params, jax.random.key(0), k=3, num_iters=120)
  np.testing.assert_allclose(res.eigenvalues, exact, rtol=1e-6)
  assert np.all(np.asarray(res.residual_norms) < 1e-4 * exact[0])


def test_a_ritz_pair_is_converged_when_its_residual_is_within_rtol_of_its_value(x64):
  """The documented rule, residual ≤ rtol·|θ|, on a spectrum far from 1 (eigenvalues 100 … 3000) where a residual
  compared with rtol alone, or with rtol/|θ|, would give other flags."""
  d = 100.0 * np.arange(1, 31)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    res = lanczos_eigenvalues(lambda v: jnp.asarray(d) * v, jnp.zeros(30), jax.random.key(3), k=4, num_iters=18,
                              rtol=1e-2)
  theta, resid = np.asarray(res.eigenvalues), np.asarray(res.residual_norms)
  expected = resid <= 1e-2 * np.abs(theta)
  assert expected.any() and (resid[expected] > 1e-2).any()  # the rule matters on these numbers
  np.testing.assert_array_equal(np.asarray(res.converged), expected)
