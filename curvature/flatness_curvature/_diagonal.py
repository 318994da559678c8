"""Public entry point of the diagonal estimators: diag(A) of any symmetric operator on pytrees, as a pytree.

    diagonal_estimate(matvec, like, key, method="hutchinson" | "xdiag", num_matvecs=m)

"hutchinson": Bekas, Kokiopoulou & Saad 2007 (_hutchinson_diagonal.py), per-entry SE from the i.i.d. samples;
"xdiag": Epperly, Tropp & Webber 2024 (_xdiag.py), much smaller error when a few directions dominate (the Hessians
of trained networks), with the authors' optimistic per-entry SE. A `mask` restricts to P A P (zero outside).
The diagonal summed over a block of parameters is that block's trace: `block_traces` (_block_traces.py) does it
for many blocks at once, with error bars.
"""
from typing import Any, NamedTuple

from flatness_curvature._checks import check_int
from flatness_curvature._filter_jit import filter_jit
from flatness_curvature._hutchinson_diagonal import hutchinson_diagonal
from flatness_curvature._operator import prepare
from flatness_curvature._random_vectors import DISTRIBUTIONS
from flatness_curvature._xdiag import xdiag

DIAGONAL_METHODS = ("hutchinson", "xdiag")


class DiagonalEstimate(NamedTuple):
  """diag(A) shaped like the parameters, its per-entry standard error, and the products spent."""
  value: Any
  stderr: Any
  num_matvecs: int


@filter_jit
def _run(op, key, like, shardings, *, method, num_matvecs, chunk_size, distribution, mask):
  if method == "hutchinson":
    return hutchinson_diagonal(op, like, key, num_matvecs=num_matvecs, distribution=distribution, mask=mask,
                               shardings=shardings)
  return xdiag(op, like, key, num_matvecs=num_matvecs, chunk_size=chunk_size, mask=mask, shardings=shardings)


def diagonal_estimate(matvec, like, key, *, method="hutchinson", num_matvecs, chunk_size=1,
                      distribution="rademacher", mask=None):
  """Estimates diag(A) for a symmetric operator A on pytrees shaped like `like`.

  Args:
    matvec: v ↦ A v, or an Operator (hessian_matvec, ggn_matvec, fisher_matvec, ...).
    like: pytree of floating-point arrays (or ShapeDtypeStructs) shaped like the vectors.
    key: a jax.random key.
    method: "hutchinson" or "xdiag".
    num_matvecs: products with A (XDiag: rounded down to even, at least 6).
    chunk_size: XDiag only: vectors vmapped together through the matvec.
    distribution: Hutchinson only: "rademacher" (default) or "gaussian" (XDiag uses Rademacher vectors).
    mask: optional pytree of bools: the diagonal of P A P.

  Returns:
    DiagonalEstimate(value, stderr, num_matvecs): value and stderr are pytrees shaped like `like`.
  """
  if method not in DIAGONAL_METHODS:
    raise ValueError(f"method must be one of {DIAGONAL_METHODS}, got {method!r}")
  if distribution not in DISTRIBUTIONS:
    raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
  minimum = 6 if method == "xdiag" else 1
  num_matvecs = check_int(num_matvecs, "num_matvecs", minimum, f" for {method}")
  op, work, shardings, key = prepare(matvec, like, key, mask)
  mean, stderr = _run(op, key, work, shardings, method=method, num_matvecs=num_matvecs, chunk_size=chunk_size,
                      distribution=distribution, mask=mask)
  spent = num_matvecs if method == "hutchinson" else 2 * (num_matvecs // 2)
  return DiagonalEstimate(mean, stderr, spent)
