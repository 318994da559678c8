"""Damped inverse products (A + λI)⁻¹ b by conjugate gradients on pytrees (Hestenes & Stiefel 1952).

For symmetric positive definite A + λI, CG minimises ½xᵀ(A + λI)x − bᵀx over growing Krylov spaces:
    r₀ = b − (A + λI)x₀, p₀ = r₀;  αₖ = rₖᵀrₖ / pₖᵀ(A + λI)pₖ,  xₖ₊₁ = xₖ + αₖpₖ,  rₖ₊₁ = rₖ − αₖ(A + λI)pₖ,
    pₖ₊₁ = rₖ₊₁ + (rₖ₊₁ᵀrₖ₊₁ / rₖᵀrₖ) pₖ,
stopping when ‖rₖ‖ ≤ rtol·‖b‖ or after max_iters products (Golub & Van Loan, Matrix Computations, §11.3). This is
the inverse-Hessian-vector product of influence functions (Koh & Liang, ICML 2017) and Laplace approximations,
where the damping λ > 0 makes a Hessian that is only positive semi-definite (or slightly indefinite away from a
minimum) invertible. A direction of non-positive curvature, pᵀ(A + λI)p ≤ 0, means the damped operator is not
positive definite: CG stops there with converged=False (raise the damping). The reported residual norm is the
true ‖b − (A + λI)x‖, recomputed with one more product, not the recursion's.
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from flatness_curvature._checks import check_int, check_params
from flatness_curvature._convergence import warn_unless_converged
from flatness_curvature._filter_jit import filter_jit
from flatness_curvature._hessian import hessian_matvec
from flatness_curvature._operator import as_operator
from flatness_curvature._precision import cast_tree, working_like
from flatness_curvature._tree_linalg import tree_add, tree_norm, tree_scale, tree_sub, tree_vdot


class CGResult(NamedTuple):
  """x ≈ (A + λI)⁻¹ b, the true residual norm ‖b − (A + λI)x‖, the iterations (products) spent, and whether
  ‖residual‖ ≤ rtol·‖b‖ was reached."""
  x: Any
  residual_norm: Any
  num_iters: Any
  converged: Any


@filter_jit
def _cg(op, b, *, damping, rtol, max_iters):
  def run(mv):
    def damped(v):
      return tree_add(mv(v), tree_scale(v, damping))

    target = rtol * tree_norm(b)
    x0 = jax.tree.map(jnp.zeros_like, b)

    def keep_going(state):
      _, r, _, rr, k, curvature_ok = state
      return (k < max_iters) & (jnp.sqrt(rr) > target) & curvature_ok

    def step(state):
      x, r, p, rr, k, _ = state
      ap = damped(p)
      pap = tree_vdot(p, ap)
      ok = pap > 0
      alpha = jnp.where(ok, rr / jnp.where(ok, pap, 1.0), 0.0)
      x, r = tree_add(x, tree_scale(p, alpha)), tree_sub(r, tree_scale(ap, alpha))
      rr_new = tree_vdot(r, r)
      p = tree_add(r, tree_scale(p, rr_new / rr))
      return x, r, p, rr_new, k + 1, ok

    state = (x0, b, b, tree_vdot(b, b), jnp.asarray(0), jnp.asarray(True))
    x, _, _, _, k, _ = lax.while_loop(keep_going, step, state)
    resid = tree_norm(tree_sub(b, damped(x)))
    return CGResult(x, resid, k, resid <= target)
  return op.bind(run)


def cg_solve(matvec, b, *, damping=0.0, rtol=1e-6, max_iters=100):
  """x ≈ (A + damping·I)⁻¹ b by conjugate gradients (A symmetric; A + damping·I positive definite).

  Args:
    matvec: v ↦ A v on pytrees shaped like b, or an Operator (hessian_matvec, ggn_matvec, ...: linearized once).
    b: the right-hand side, a pytree of floating-point arrays (narrow dtypes are worked in float32).
    damping: λ ≥ 0 added to the diagonal.
    rtol: stop when ‖b − (A + λI)x‖ ≤ rtol·‖b‖.
    max_iters: cap on iterations (one product each, plus one for the final residual).

  Returns:
    CGResult(x, residual_norm, num_iters, converged); a ConvergenceWarning when not converged.
  """
  check_params(b, "b")
  if not damping >= 0:
    raise ValueError(f"damping must be >= 0, got {damping!r}")
  if not rtol > 0:
    raise ValueError(f"rtol must be > 0, got {rtol!r}")
  max_iters = check_int(max_iters, "max_iters")
  work = cast_tree(b, working_like(b))
  res = _cg(as_operator(matvec, b), work, damping=float(damping), rtol=float(rtol), max_iters=max_iters)
  warn_unless_converged(res.converged, "cg_solve: residual {resid} after {k} of max_iters={max_iters} iterations "
                        "is above rtol={rtol} × ‖b‖ = {target}; stopping before max_iters means A + damping·I "
                        "(damping={damping}) is not positive definite: raise damping, else raise max_iters",
                        resid=res.residual_norm, k=res.num_iters, rtol=rtol, target=rtol * tree_norm(work),
                        max_iters=max_iters, damping=damping)
  return res


def inverse_hvp(loss_fn, params, batches, v, *, damping, rtol=1e-6, max_iters=100, has_aux=False,
                num_examples=None):
  """(H + damping·I)⁻¹ v for the Hessian H of the mean loss over `batches` (cg_solve on hessian_matvec)."""
  return cg_solve(hessian_matvec(loss_fn, params, batches, has_aux=has_aux, num_examples=num_examples), v,
                  damping=damping, rtol=rtol, max_iters=max_iters)

