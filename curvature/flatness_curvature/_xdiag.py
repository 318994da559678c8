"""XDiag (Epperly, Tropp & Webber, "XTrace: making the most of every sample in stochastic trace estimation", SIAM J.
Matrix Anal. Appl. 45(1), 2024, §2.4): the diagonal of a symmetric operator, exchangeably deflated.

As in XTrace (_xtrace.py): s = m/2 Rademacher test vectors Ω, Y = AΩ = QR, Z = AQ, and Pᵢ = Q(I − sᵢsᵢᵀ)Qᵀ the
projector onto the range of Y without its column i (independent of ωᵢ). Each
    d̂ᵢ = diag(Pᵢ A) + ωᵢ ⊙ (I − Pᵢ) A ωᵢ
is unbiased (Hutchinson's diagonal estimator, _hutchinson_diagonal.py, on the deflated part), and XDiag averages them.
For symmetric A every term is a product of stacked vectors: diag(QQᵀA) = Σ_k q_k ⊙ z_k, diag(Q sᵢsᵢᵀ QᵀA) =
(Q sᵢ) ⊙ (Z sᵢ), and since Qᵀyᵢ = rᵢ (column i of R) and yᵢ = Q rᵢ,
    ωᵢ ⊙ (I − Pᵢ) A ωᵢ = ωᵢ ⊙ (yᵢ − Q rᵢ + Q sᵢ (sᵢᵀ rᵢ)) = (sᵢᵀ rᵢ) ωᵢ ⊙ (Q sᵢ),
so d̂ = Σ_k q_k ⊙ z_k + (1/s) Σᵢ [(sᵢᵀrᵢ) ωᵢ ⊙ (Qsᵢ) − (Qsᵢ) ⊙ (Zsᵢ)] (our derivation; the authors' reference code
has the same terms for a general A, with ωᵢ ⊙ (yᵢ − Q Qᵀ A ωᵢ), zero here, dropped). When the spectrum decays the
deflated remainder is small and the error falls much faster than Hutchinson's 1/√m.

Error bar: the authors' std over the s estimates d̂ᵢ / √s, per entry. The d̂ᵢ share Ω and are positively correlated,
so, as for XTrace's own error estimate, it is optimistic: read it as a scale, not a calibrated interval.
Rank deficiency (rank A < s) leaves the leave-one-out projections approximate, as in XTrace.
"""
import jax
import jax.numpy as jnp

from flatness_curvature._blocks import apply_block
from flatness_curvature._random_vectors import constrain_stacked, random_vectors
from flatness_curvature._tree_linalg import orthonormalize, stacked_combine
from flatness_curvature._xtrace import exchange_directions


def xdiag(op, like, key, *, num_matvecs, chunk_size=1, mask=None, shardings=None):
  """(mean, stderr) pytrees of the XDiag estimate with num_matvecs (rounded down to even) products (traceable)."""
  s = num_matvecs // 2
  omega = random_vectors(key, 0, s, like, mask=mask, shardings=shardings)
  q, r = orthonormalize(apply_block(op, omega, chunk_size=chunk_size, shardings=shardings))
  q = constrain_stacked(q, shardings)
  z = apply_block(op, q, chunk_size=chunk_size, shardings=shardings)
  sv = exchange_directions(r)
  qs, zs = stacked_combine(q, sv), stacked_combine(z, sv)
  c = jnp.sum(sv * r, axis=0)                                   # cᵢ = sᵢᵀ rᵢ
  base = jax.tree.map(lambda a, b: jnp.sum(a * b, axis=0), q, z)  # diag(Q Zᵀ)
  per_i = jax.tree.map(lambda d, om, a, b: d + c.reshape((s,) + (1,) * d.ndim).astype(d.dtype) * om * a - a * b,
                       base, omega, qs, zs)
  mean = jax.tree.map(lambda x: jnp.mean(x, axis=0), per_i)
  stderr = jax.tree.map(lambda x: jnp.std(x, axis=0, ddof=1) / jnp.sqrt(s), per_i)
  return mean, stderr
