"""Lanczos with full reorthogonalisation on pytrees: extreme eigenvalues of a symmetric operator.

From a unit start vector v₁ (Rademacher, normalised), Lanczos builds an orthonormal basis V of the Krylov space
K_k(A, v₁) and the tridiagonal T = Vᵀ A V (diagonal α, off-diagonal β) from A vⱼ = βⱼ₋₁vⱼ₋₁ + αⱼvⱼ + βⱼvⱼ₊₁
(Lanczos 1950; Golub & Van Loan, Matrix Computations, §10.1). Eigenvalues θ of T (Ritz values) approximate the
extreme eigenvalues of A; with T = U diag(θ) Uᵀ the Ritz pair (θᵢ, V uᵢ) has residual
    ‖A V uᵢ − θᵢ V uᵢ‖ = β_k |U[k, i]|
(exact in exact arithmetic; with full reorthogonalisation accurate to working precision: values far below eps·‖A‖,
which converged Ritz pairs reach, mean "converged", not that the true residual is that small). In floating point
the plain three-term recurrence loses orthogonality and produces ghost copies of converged eigenvalues, so every
new vector is orthogonalised against all previous ones, twice (CGS2). Memory: num_iters vectors of the params' size.

Breakdown (βⱼ ≤ 100·eps·max(|α|+β): an invariant subspace is exhausted, e.g. a Hessian of rank < num_iters, repeated
eigenvalues, or a masked operator) restarts with a fresh random vector orthogonal to V and records βⱼ = 0, so
num_iters = dim(A) recovers the whole spectrum with multiplicities (the dropped βⱼ is below the tolerance, so the
reported residuals are off by at most that much).

This is for the top of the spectrum (Ghorbani, Krishnan & Xiao 2019 and Yao et al. 2020, PyHessian, use it for the
top Hessian eigenvalues). For the density of the whole spectrum see slq.py.
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

from flatness_curvature._checks import check_int, check_key, check_params
from flatness_curvature._convergence import warn_unless_converged
from flatness_curvature._filter_jit import filter_jit
from flatness_curvature._operator import as_operator
from flatness_curvature._precision import working_like
from flatness_curvature._random_vectors import (constrain, constrain_stacked, random_vector, shape_struct,
                                                vector_shardings)
from flatness_curvature._tree_linalg import (stacked_combine, stacked_dot_vector, stacked_set, tree_norm,
                                                tree_scale, tree_sub, tree_vdot)


class LanczosResult(NamedTuple):
  """Selected Ritz values (descending for "largest"), their residual norms, optionally the Ritz vectors, and
  whether each pair has converged (residual ≤ rtol·|value|)."""
  eigenvalues: Any
  residual_norms: Any
  eigenvectors: Any = None   # stacked pytree (leading axis k) when requested
  converged: Any = None


def _orthogonalize(basis, w):
  for _ in range(2):
    w = tree_sub(w, stacked_combine(basis, stacked_dot_vector(basis, w)))
  return w


def lanczos_tridiag(matvec, like, key, num_iters, *, mask=None, shardings=None):
  """Runs num_iters Lanczos steps; returns (alpha [k], beta [k], basis V stacked [k]). Traceable.

  beta[j] couples vⱼ and vⱼ₊₁; beta[k-1] is the residual coefficient of the last step (0 after a breakdown).
  """
  dtype = jnp.result_type(*jax.tree.leaves(like))
  tol = 100 * jnp.finfo(dtype).eps
  like = shape_struct(like)

  def start(i, basis):
    v = random_vector(key, i, like, mask=mask, shardings=shardings)
    v = _orthogonalize(basis, v)
    return tree_scale(v, 1.0 / jnp.maximum(tree_norm(v), jnp.finfo(dtype).tiny))

  basis0 = jax.tree.map(lambda x: jnp.zeros((num_iters,) + x.shape, x.dtype), like)
  basis0 = constrain_stacked(basis0, shardings)

  def body(j, carry):
    basis, v, alpha, beta, scale = carry
    basis = stacked_set(basis, j, v)
    w = constrain(matvec(v), shardings)
    a = tree_vdot(v, w)
    w = _orthogonalize(basis, w)      # Removes αⱼvⱼ and βⱼ₋₁vⱼ₋₁ too (full reorthogonalisation).
    b = tree_norm(w)
    scale = jnp.maximum(scale, jnp.abs(a) + b)
    broke = b <= tol * scale
    v_next = lax.cond(broke, lambda: start(j + 1, basis), lambda: tree_scale(w, 1.0 / jnp.where(broke, 1.0, b)))
    return basis, v_next, alpha.at[j].set(a), beta.at[j].set(jnp.where(broke, 0.0, b)), scale

  v0 = start(0, basis0)
  init = (basis0, v0, jnp.zeros(num_iters, dtype), jnp.zeros(num_iters, dtype), jnp.zeros((), dtype))
  basis, _, alpha, beta, _ = lax.fori_loop(0, num_iters, body, init)
  return alpha, beta, basis


def tridiag_eigh(alpha, beta):
  """Eigen-decomposition of the symmetric tridiagonal matrix with diagonal alpha and off-diagonal beta[:-1]."""
  t = jnp.diag(alpha) + jnp.diag(beta[:-1], 1) + jnp.diag(beta[:-1], -1)
  return jnp.linalg.eigh(t)


def lanczos_eigenvalues(matvec, like, key, k, num_iters, *, which="largest", mask=None, return_vectors=False,
                        rtol=1e-3):
  """Top-k eigenvalues of a symmetric operator on pytrees by Lanczos with full reorthogonalisation.

  Args:
    matvec: v ↦ A v on pytrees shaped like `like`, or an Operator (hessian_matvec, ggn_matvec, ...: each batch
      linearized once for the whole run).
    like: pytree of floating-point arrays (shapes, dtypes, shardings of the vectors); narrow dtypes (bf16) are
      worked in float32.
    key: jax.random key (start vector and restarts).
    k: number of eigenvalues returned.
    num_iters: Lanczos steps = matvecs (≥ k; 2–3× k plus a margin for convergence; = dim(A) for all of them).
    which: "largest" (algebraic), "smallest" (algebraic) or "magnitude".
    mask: optional pytree mask: eigenvalues of P A P on the masked entries only.
    return_vectors: also return the Ritz vectors (stacked pytree, leading axis k).
    rtol: a Ritz pair counts as converged when its residual norm is ≤ rtol·|θᵢ| (|θᵢ − λ| ≤ residual for some
      eigenvalue λ, so the value is then right to that relative accuracy).

  Returns:
    LanczosResult(eigenvalues [k], residual_norms [k] = β_k|U[k,i]| (the Ritz pair's residual ‖Ax − θx‖),
    eigenvectors or None, converged [k]); a ConvergenceWarning when some pair has not converged.
  """
  k, num_iters = check_int(k, "k"), check_int(num_iters, "num_iters")
  if not k <= num_iters:
    raise ValueError(f"need 1 <= k <= num_iters, got k={k}, num_iters={num_iters}")
  if which not in ("largest", "smallest", "magnitude"):
    raise ValueError(f"which must be 'largest', 'smallest' or 'magnitude', got {which!r}")
  check_params(like, "like", structs_ok=True)
  key = check_key(key)
  res = _lanczos_run(as_operator(matvec, like, mask), key, working_like(like), vector_shardings(like), mask=mask,
                     k=k, num_iters=num_iters, which=which, return_vectors=return_vectors, rtol=rtol)
  warn_unless_converged(res.converged, f"lanczos_eigenvalues: after num_iters={num_iters} steps the residual "
                        "norms {resid} of the Ritz values {theta} are not all below rtol={rtol} × |value|; raise "
                        "num_iters", resid=res.residual_norms, theta=res.eigenvalues, rtol=rtol)
  return res


def _flat(matvec, like, mask):
  """The operator on one raveled vector (ravel_pytree order: leaf after leaf, row-major, the random vectors' order),
  so the Lanczos loop is a handful of array ops instead of a set per leaf (compiles about 2× faster on CPU; the
  start vector and every result are the same)."""
  flat_like, unravel = ravel_pytree(jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), like))
  flat_mask = None if mask is None else ravel_pytree(jax.tree.map(
      lambda m, x: jnp.broadcast_to(jnp.asarray(m, x.dtype), x.shape), mask, like))[0]
  mv = lambda v: ravel_pytree(matvec(unravel(v)))[0]  # pylint: disable=unnecessary-lambda-assignment
  return mv, jax.ShapeDtypeStruct(flat_like.shape, flat_like.dtype), flat_mask, unravel


def _is_sharded(shardings):
  return any(s is not None for s in jax.tree.leaves(shardings, is_leaf=lambda s: s is None))


def lanczos_on(matvec, like, key, num_iters, *, mask=None, shardings=None):
  """(alpha, beta, basis, unravel): Lanczos on the raveled operator (or per leaf when sharded; unravel None)."""
  if _is_sharded(shardings):  # keep the vectors' shardings: per-leaf operations
    return (*lanczos_tridiag(matvec, like, key, num_iters, mask=mask, shardings=shardings), None)
  mv, flat_like, flat_mask, unravel = _flat(matvec, like, mask)
  return (*lanczos_tridiag(mv, flat_like, key, num_iters, mask=flat_mask), unravel)


@filter_jit
def _lanczos_run(op, key, like, shardings, *, mask, k, num_iters, which, return_vectors, rtol):
  alpha, beta, basis, unravel = op.bind(lambda mv: lanczos_on(mv, like, key, num_iters, mask=mask,
                                                              shardings=shardings))
  theta, u = tridiag_eigh(alpha, beta)
  score = {"largest": theta, "smallest": -theta, "magnitude": jnp.abs(theta)}[which]
  idx = jnp.argsort(-score)[:k]
  resid = jnp.abs(beta[-1] * u[-1, idx])
  vecs = stacked_combine(basis, u[:, idx]) if return_vectors else None
  if vecs is not None and unravel is not None:
    vecs = jax.vmap(unravel)(vecs)
  floor = jnp.finfo(theta.dtype).eps * jnp.max(jnp.abs(theta))
  converged = resid <= rtol * jnp.maximum(jnp.abs(theta[idx]), floor)
  return LanczosResult(theta[idx], resid, vecs, converged)
