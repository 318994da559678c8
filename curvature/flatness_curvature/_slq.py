"""Stochastic Lanczos quadrature (SLQ): a smoothed estimate of the spectral density of a symmetric operator.

For a unit vector v, vᵀ f(A) v = Σᵢ (vᵀuᵢ)² f(λᵢ) is an integral against the spectral measure of A seen from v;
k Lanczos steps from v give the k-point Gauss quadrature of it: nodes θⱼ (eigenvalues of T) and weights τⱼ = U[0, j]²
(Golub & Meurant 1994/2010). With random v (E[vvᵀ] = I/n), E[vᵀ f(A) v] = (1/n) tr f(A), so averaging over probes
estimates the normalised density φ(t) = (1/n) Σᵢ δ(t − λᵢ), smoothed here with a Gaussian of width σ:
    φ̂_σ(t) = (1/L) Σₗ Σⱼ τₗⱼ N(t; θₗⱼ, σ²)          (integrates to 1)
(Lin, Saad & Yang, SIAM Review 2016; Ubaru, Chen & Saad, SIMAX 2017; for neural-network Hessians Ghorbani, Krishnan
& Xiao, ICML 2019, and PyHessian, Yao et al. 2020). `expectation(f)` = n·(1/L)Σₗ Σⱼ τₗⱼ f(θₗⱼ) estimates tr f(A)
(f = identity: a trace estimate). Lanczos restarts after a breakdown get weight 0, so they do not distort the measure.
Probes are processed one at a time (lax.map): memory is one Lanczos basis of num_iters vectors.
"""
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from flatness_curvature._lanczos import lanczos_tridiag, tridiag_eigh
from flatness_curvature._masks import mask_size, masked_matvec
from flatness_curvature._random_vectors import probe_shardings, shape_struct
from flatness_curvature._filter_jit import freeze, hashable_fn, thaw


class SpectralDensity(NamedTuple):
  """Gauss quadrature nodes and weights per probe ([num_probes, num_iters]; each row of weights sums to 1)."""
  nodes: Any
  weights: Any
  dim: int

  def density(self, grid, sigma):
    """φ̂_σ on `grid` (a 1-d array): the Gaussian-smoothed spectral density, integrating to 1."""
    grid = jnp.asarray(grid)[:, None, None]
    kernel = jnp.exp(-0.5 * ((grid - self.nodes) / sigma) ** 2) / (sigma * jnp.sqrt(2 * jnp.pi))
    return jnp.mean(jnp.sum(self.weights * kernel, axis=-1), axis=-1)

  def expectation(self, f=lambda t: t):
    """Estimate of tr f(A) = dim · mean over probes of Σⱼ τⱼ f(θⱼ)."""
    return self.dim * jnp.mean(jnp.sum(self.weights * f(self.nodes), axis=-1))


def slq_density(matvec, like, key, num_probes, num_iters, *, mask=None):
  """Runs SLQ with `num_probes` Rademacher start vectors and `num_iters` Lanczos steps each.

  Args:
    matvec: v ↦ A v on pytrees shaped like `like` (symmetric).
    like: pytree of arrays giving shapes, dtypes and shardings.
    key: jax.random key; probe l starts from the Rademacher vector of fold_in(key, l).
    num_probes: number of random start vectors L.
    num_iters: Lanczos steps per probe (matvecs per probe).
    mask: optional pytree mask: the spectrum of P A P on the masked entries (dim = number of masked entries).

  Returns:
    SpectralDensity(nodes, weights, dim).
  """
  nodes, weights = _slq_jit(key, mask, matvec=hashable_fn(matvec), like=freeze(shape_struct(like)),
                            shardings=freeze(probe_shardings(like), none_is_leaf=True), num_probes=num_probes,
                            num_iters=num_iters)
  return SpectralDensity(nodes, weights, mask_size(like, mask))


@functools.partial(jax.jit, static_argnames=("matvec", "like", "shardings", "num_probes", "num_iters"))
def _slq_jit(key, mask, *, matvec, like, shardings, num_probes, num_iters):
  mv = masked_matvec(matvec, mask)

  def one(l):
    alpha, beta, _ = lanczos_tridiag(mv, thaw(like), jax.random.fold_in(key, l), num_iters, mask=mask,
                                     shardings=thaw(shardings))
    theta, u = tridiag_eigh(alpha, beta)
    return theta, u[0] ** 2
  return lax.map(one, jnp.arange(num_probes))
