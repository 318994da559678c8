"""Synthetic symmetric test operators with known spectra, and the error/coverage study of the trace estimators.

A = U diag(λ) Uᵀ with U a Haar-random orthogonal matrix (Q factor of a Gaussian matrix, positive diag(R)) and
    "i^-2", "i^-1", "i^-0.5":  λᵢ = i^-p, i = 1..n  (fast to slow decay; the first two are the PSD test cases of
                               Meyer et al. 2021 and Epperly et al. 2024),
    "indefinite":              λᵢ = (−1)^(i+1) i^-1 (alternating signs: tr A is small against ‖A‖_F).
`coverage_study` runs an estimator over many seeds at once (jit of vmap) and returns the median relative error and
the empirical coverage of its reported 95% interval. Used by the library's tests (test_coverage.py) and
benchmarks/spectra_table.py.
"""
import jax
import jax.numpy as jnp
import numpy as np

SPECTRA = ("i^-2", "i^-1", "i^-0.5", "indefinite")


def spectrum(name, n):
  """Eigenvalues of the named synthetic spectrum (numpy float64, length n)."""
  i = np.arange(1, n + 1, dtype=np.float64)
  if name == "indefinite":
    return np.where(i % 2 == 1, 1.0, -1.0) / i
  if name.startswith("i^"):
    return i ** float(name[2:])
  raise ValueError(f"unknown spectrum {name!r}; known: {SPECTRA}")


def random_symmetric(eigenvalues, seed=0):
  """U diag(λ) Uᵀ for a Haar-random orthogonal U (numpy float64).

  U is the Q factor, with positive diagonal R, of a Gaussian matrix, computed as Cholesky-QR twice (Q = G R⁻¹ with
  GᵀG = RᵀR, repeated once for orthogonality to rounding): the same matrix as Householder QR with signs fixed, and
  several times faster than LAPACK's dgeqrf on a busy 2-core machine.
  """
  q = np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2)
  for _ in range(2):
    lower = np.linalg.cholesky(q.T @ q)      # GᵀG = L Lᵀ, R = Lᵀ
    q = np.linalg.solve(lower, q.T).T        # Q = G L⁻ᵀ
  return (q * eigenvalues) @ q.T


def coverage_study(estimator, matrix, num_seeds, *, seed=0):
  """Runs estimator(matvec, like, key) -> TraceEstimate for `num_seeds` keys (vmapped).

  Returns a dict: median_rel_error, coverage (fraction of 95% intervals containing tr A), mean_se_over_rmse (SE
  calibration: ≈ 1 calibrated, < 1 optimistic, > 1 conservative).
  """
  exact = float(np.trace(matrix))
  a = jnp.asarray(matrix)
  like = jnp.zeros(a.shape[0], a.dtype)
  keys = jax.random.split(jax.random.key(seed), num_seeds)
  est = jax.jit(jax.vmap(lambda k: estimator(lambda v: a @ v, like, k)))(keys)
  value, stderr = np.asarray(est.value, np.float64), np.asarray(est.stderr, np.float64)
  lo, hi = (np.asarray(x, np.float64) for x in est.ci95)
  return dict(median_rel_error=float(np.median(np.abs(value - exact)) / abs(exact)),
              coverage=float(np.mean((lo <= exact) & (exact <= hi))),
              mean_se_over_rmse=float(np.mean(stderr) / np.sqrt(np.mean((value - exact) ** 2))))
