"""Stochastic Lanczos quadrature (SLQ): a smoothed estimate of the spectral density of a symmetric operator.

For a unit vector v, vᵀ f(A) v = Σᵢ (vᵀuᵢ)² f(λᵢ) is an integral against the spectral measure of A seen from v;
k Lanczos steps from v give the k-point Gauss quadrature of it: nodes θⱼ (eigenvalues of T) and weights τⱼ = U[0, j]²
(Golub & Meurant 1994/2010). With random v (E[vvᵀ] = I/n), E[vᵀ f(A) v] = (1/n) tr f(A), so averaging over random
vectors estimates the normalised density φ(t) = (1/n) Σᵢ δ(t − λᵢ), smoothed here with a Gaussian of width σ:
    φ̂_σ(t) = (1/L) Σₗ Σⱼ τₗⱼ N(t; θₗⱼ, σ²)          (integrates to 1)
(Lin, Saad & Yang, SIAM Review 2016; Ubaru, Chen & Saad, SIMAX 2017; for neural-network Hessians Ghorbani, Krishnan
& Xiao, ICML 2019, and PyHessian, Yao et al. 2020). `expectation(f)` = n·(1/L)Σₗ Σⱼ τₗⱼ f(θₗⱼ) estimates tr f(A)
(f = identity: a trace estimate, with its error bar from `trace()`). Lanczos restarts after a breakdown get weight 0,
so they do not distort the measure. Start vectors are processed one at a time (lax.map): memory is one Lanczos basis
of num_iters vectors.
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from flatness_curvature import _estimate as estimate
from flatness_curvature._checks import check_int, check_key, check_params
from flatness_curvature._filter_jit import filter_jit
from flatness_curvature._lanczos import lanczos_on, tridiag_eigh
from flatness_curvature._masks import mask_size
from flatness_curvature._operator import as_operator
from flatness_curvature._precision import working_like
from flatness_curvature._random_vectors import vector_shardings


class SpectralDensity(NamedTuple):
  """Gauss quadrature nodes and weights per random vector ([num_vectors, num_iters]; each row of weights sums to 1)."""
  nodes: Any
  weights: Any
  dim: int

  def density(self, grid, sigma):
    """φ̂_σ on `grid` (a 1-d array): the Gaussian-smoothed spectral density, integrating to 1."""
    grid = jnp.asarray(grid)[:, None, None]
    kernel = jnp.exp(-0.5 * ((grid - self.nodes) / sigma) ** 2) / (sigma * jnp.sqrt(2 * jnp.pi))
    return jnp.mean(jnp.sum(self.weights * kernel, axis=-1), axis=-1)

  def expectation(self, f=lambda t: t):
    """Estimate of tr f(A) = dim · mean over random vectors of Σⱼ τⱼ f(θⱼ)."""
    return self.trace(f).value

  def trace(self, f=lambda t: t):
    """tr f(A) (f = identity: tr A) as a TraceEstimate: the mean over the L start vectors of dim·Σⱼ τⱼ f(θⱼ), with
    SE = their std / √L (dof L − 1): the L values are i.i.d. (for f = identity, each is the Hutchinson sample zᵀAz of
    its Rademacher start vector z, exactly when num_iters ≥ 1). num_matvecs = L × num_iters."""
    per_vector = self.dim * jnp.sum(self.weights * f(self.nodes), axis=-1)
    value, stderr, dof = estimate.mean_and_stderr(per_vector)
    return estimate.TraceEstimate(value, stderr, self.nodes.size, dof, jnp.asarray(True))


def slq_density(matvec, like, key, num_vectors, num_iters, *, mask=None):
  """Runs SLQ with `num_vectors` Rademacher start vectors and `num_iters` Lanczos steps each.

  Args:
    matvec: v ↦ A v on pytrees shaped like `like` (symmetric), or an Operator (each batch linearized once).
    like: pytree of floating-point arrays giving shapes, dtypes and shardings.
    key: jax.random key; start vector l is the Rademacher vector of fold_in(key, l).
    num_vectors: number of random start vectors L.
    num_iters: Lanczos steps per random vector (matvecs per random vector).
    mask: optional pytree mask: the spectrum of P A P on the masked entries (dim = number of masked entries).

  Returns:
    SpectralDensity(nodes, weights, dim); `.trace()` is the trace estimate with its error bar.
  """
  num_vectors, num_iters = check_int(num_vectors, "num_vectors"), check_int(num_iters, "num_iters")
  check_params(like, "like", structs_ok=True)
  key = check_key(key)
  nodes, weights = _slq_run(as_operator(matvec, like, mask), key, working_like(like), vector_shardings(like),
                            mask=mask, num_vectors=num_vectors, num_iters=num_iters)
  return SpectralDensity(nodes, weights, mask_size(like, mask))


@filter_jit
def _slq_run(op, key, like, shardings, *, mask, num_vectors, num_iters):
  def run(mv):
    def one(l):
      alpha, beta, _, _ = lanczos_on(mv, like, jax.random.fold_in(key, l), num_iters, mask=mask, shardings=shardings)
      theta, u = tridiag_eigh(alpha, beta)
      return theta, u[0] ** 2
    return lax.map(one, jnp.arange(num_vectors))
  return op.bind(run)
