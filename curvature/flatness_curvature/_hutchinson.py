"""Girard–Hutchinson trace estimator (Girard 1989; Hutchinson 1989).

For random vectors z with E[z zᵀ] = I, E[zᵀ A z] = tr(A). With m i.i.d. random vectors,
    t̂ = (1/m) Σᵢ zᵢᵀ A zᵢ,   SE = s / √m,  s² = sample variance of the zᵢᵀ A zᵢ,
and for Rademacher vectors Var[zᵀAz] = 2(‖A‖_F² − Σᵢ Aᵢᵢ²) (the minimum among vectors with i.i.d. zero-mean,
unit-variance entries; Gaussian vectors give 2‖A‖_F²). The samples are i.i.d., so the t interval t̂ ± t_{0.975,m−1} SE
is asymptotically exact; with few vectors it undercovers when the samples are skewed, i.e. when a few eigenvalues
dominate (measured 90–94% coverage at 60 vectors and 88% at 12 on λᵢ = i^-2; 94–95% on an indefinite i^-1
spectrum; benchmarks/spectra_table.py).

Adaptive mode (`rtol`): steps of `adaptive_step(chunk_size)` = max(16, chunk_size) vectors (a multiple of chunk_size)
are added in a `lax.while_loop` until SE ≤ rtol·|t̂| (after at least `min_matvecs` vectors) or `max_matvecs` is
reached; each step is one pass of the operator (one linearization per batch for a multi-batch Hessian). The stopping
time depends on the samples, which biases t̂ and the interval very slightly; use a generous `min_matvecs` (≥ 10) so
the first SE is not a lucky underestimate.
"""
import jax.numpy as jnp
from jax import lax

from flatness_curvature import _estimate as estimate
from flatness_curvature._blocks import quadratic_forms
from flatness_curvature._random_vectors import random_vector


def adaptive_step(chunk_size):
  """Random vectors added per adaptive step: a multiple of chunk_size, at least 16."""
  return chunk_size * max(1, -(-16 // chunk_size))


def quadratic_form_estimate(op, make_vector, *, num_matvecs=None, rtol=None, min_matvecs=10, max_matvecs=1000,
                            chunk_size=1, offset=0.0):
  """(Moments of vᵢᵀ A vᵢ over i = 0, 1, ..., converged): a fixed count, or adaptive until SE ≤ rtol·|offset + mean|.

  Shared by Hutchinson and the residual part of Hutch++ (where `offset` is the low-rank part of the trace). In
  adaptive mode the count is a multiple of the step and may exceed `max_matvecs` by less than one step; `converged`
  says whether the target was met (True for a fixed count).
  """
  if rtol is None:
    samples = op.apply(lambda mv: quadratic_forms(mv, make_vector, jnp.arange(num_matvecs), chunk_size=chunk_size))
    return estimate.Moments.of(samples), jnp.asarray(True)
  min_matvecs = max(min_matvecs, 2, num_matvecs or 0)
  max_matvecs = max(max_matvecs, min_matvecs)

  def step(moments):
    idx = moments.count + jnp.arange(adaptive_step(chunk_size))
    samples = op.apply(lambda mv: quadratic_forms(mv, make_vector, idx, chunk_size=chunk_size))
    return moments.merge(estimate.Moments.of(samples))

  def converged(moments):
    return (moments.count >= min_matvecs) & (moments.stderr <= rtol * jnp.abs(offset + moments.mean))

  def keep_going(moments):
    return (moments.count < max_matvecs) & ~converged(moments)

  dtype = jnp.result_type(float)
  init = estimate.Moments(jnp.asarray(0, jnp.int32), jnp.zeros((), dtype), jnp.zeros((), dtype))
  first = step(init)
  moments = lax.while_loop(keep_going, step, first)
  return moments, converged(moments)


def hutchinson(op, like, key, *, num_matvecs=None, rtol=None, min_matvecs=10, max_matvecs=1000, chunk_size=1,
               distribution="rademacher", mask=None, shardings=None):
  """Hutchinson estimate of tr(A) for the operator `op` on pytrees shaped like `like` (traceable; see _trace.py)."""
  def make(i):
    return random_vector(key, i, like, distribution=distribution, mask=mask, shardings=shardings)
  m, converged = quadratic_form_estimate(op, make, num_matvecs=num_matvecs, rtol=rtol, min_matvecs=min_matvecs,
                                         max_matvecs=max_matvecs, chunk_size=chunk_size)
  return estimate.TraceEstimate(m.mean, m.stderr, m.count, m.count - 1, converged)
