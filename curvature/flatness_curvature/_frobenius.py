"""The squared Frobenius norm ‖A‖_F² = tr(AᵀA) = Σ_jk A_jk² of an operator, by Hutchinson on AᵀA.

For random vectors z with E[zzᵀ] = I, E‖A z‖² = E[zᵀAᵀA z] = tr(AᵀA) = ‖A‖_F², so
    t̂ = (1/m) Σᵢ ‖A zᵢ‖²,    SE = std_i ‖A zᵢ‖² / √m
(Hutchinson 1989 applied to AᵀA; one product with A per sample). For a Hessian, ‖H‖_F² = Σ λᵢ² weighs the spectrum
by its square: it measures the size of the curvature when Tr H cancels positive against negative eigenvalues, and
it is the variance scale of every Hutchinson estimate (Var zᵀHz = 2(‖H‖_F² − Σ H_jj²) for Rademacher z).
‖A z‖² is quadratic in A, so the product is bound once for all batches (`Operator.bind`).
"""
import jax.numpy as jnp

from flatness_curvature import _estimate as estimate
from flatness_curvature._blocks import chunked_map
from flatness_curvature._checks import check_int
from flatness_curvature._filter_jit import filter_jit
from flatness_curvature._operator import prepare
from flatness_curvature._random_vectors import DISTRIBUTIONS, random_vector
from flatness_curvature._tree_linalg import tree_vdot


@filter_jit
def _run(op, key, like, shardings, *, num_matvecs, chunk_size, distribution, mask):
  def samples(mv):
    def one(i):
      az = mv(random_vector(key, i, like, distribution=distribution, mask=mask, shardings=shardings))
      return tree_vdot(az, az)
    return chunked_map(one, jnp.arange(num_matvecs), chunk_size)
  return estimate.from_samples(op.bind(samples))


def frobenius_norm_sq(matvec, like, key, *, num_matvecs, chunk_size=1, distribution="rademacher", mask=None):
  """Estimates ‖A‖_F² (of P A P with a mask) from num_matvecs products; returns a TraceEstimate (of tr AᵀA)."""
  num_matvecs = check_int(num_matvecs, "num_matvecs", 2, " (an error bar needs two samples)")
  if distribution not in DISTRIBUTIONS:
    raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
  op, work, shardings, key = prepare(matvec, like, key, mask)
  return _run(op, key, work, shardings, num_matvecs=num_matvecs, chunk_size=chunk_size, distribution=distribution,
              mask=mask)
