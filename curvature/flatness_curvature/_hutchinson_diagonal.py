"""Hutchinson's diagonal estimator (Bekas, Kokiopoulou & Saad, "An estimator for the diagonal of a matrix", Applied
Numerical Mathematics 57(11), 2007).

For random vectors z with independent zero-mean unit-variance entries, E[z ⊙ A z]_j = Σ_k A_jk E[z_j z_k] = A_jj,
so with m of them
    d̂ = (1/m) Σᵢ zᵢ ⊙ A zᵢ,    SE_j = std_i(zᵢ ⊙ A zᵢ)_j / √m.
For Rademacher z (the default) entry j's samples are A_jj + Σ_{k≠j} A_jk z_j z_k: the variance of entry j is
Σ_{k≠j} A_jk², the off-diagonal mass of its row, which is why a few dominant eigen-directions make every entry noisy
(XDiag removes them first: _xdiag.py). Bekas et al. divide by Σᵢ zᵢ ⊙ zᵢ; for Rademacher vectors that is m, and
for Gaussian ones the plain mean used here stays unbiased.

Memory: the running mean and sum of squared deviations (Welford 1962) of one vector each; the vectors are applied one
after another through the operator bound once (all batches linearized: `Operator.bind`).
"""
import jax
import jax.numpy as jnp
from jax import lax

from flatness_curvature._random_vectors import random_vector


def hutchinson_diagonal(op, like, key, *, num_matvecs, distribution="rademacher", mask=None, shardings=None):
  """(mean, stderr) pytrees of zᵢ ⊙ A zᵢ over num_matvecs random vectors (traceable)."""
  zeros = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), like)

  def run(mv):
    def step(carry, i):
      mean, m2 = carry
      z = random_vector(key, i, like, distribution=distribution, mask=mask, shardings=shardings)
      sample = jax.tree.map(jnp.multiply, z, mv(z))
      count = (i + 1).astype(jnp.result_type(float))
      delta = jax.tree.map(jnp.subtract, sample, mean)
      mean = jax.tree.map(lambda m, d: m + d / count, mean, delta)
      m2 = jax.tree.map(lambda q, d, s, m: q + d * (s - m), m2, delta, sample, mean)
      return (mean, m2), None
    (mean, m2), _ = lax.scan(step, (zeros, zeros), jnp.arange(num_matvecs))
    return mean, m2

  mean, m2 = op.bind(run)
  m = num_matvecs
  stderr = jax.tree.map(lambda q: jnp.sqrt(q / (m - 1) / m) if m > 1 else jnp.full(q.shape, jnp.inf, q.dtype), m2)
  return mean, stderr
