"""Worst-case ρ-sharpness and its adaptive version, by projected gradient ascent.

    S_max(θ; ρ) = max_{‖δ‖₂ ≤ ρ} L(θ + c ⊙ δ) − L(θ),   c = 1 (plain) or c = |θ| + η (adaptive),

the largest rise of the loss within a ball around θ: the quantity SAM minimises (Foret et al., "Sharpness-aware
minimization for efficiently improving generalization", ICLR 2021), close to Keskar et al.'s (ICLR 2017) box version;
the adaptive one is ASAM's (Kwon et al., ICML 2021) and Andriushchenko et al.'s S^ρ_max with c = |w| ("A modern look
at the relationship between sharpness and generalization", ICML 2023), invariant to rescaling one layer up and the
next down. Here the maximum is over one perturbation for the loss of all the given batches (their m-sharpness with m
= all examples); call it per batch and average for smaller m.

Second order, at a minimum (∇L = 0) with H positive semi-definite: S_max = ½ ρ² λ_max(C H C), attained at
δ = ρ·(top eigenvector) — exactly for a quadratic. Near θ in general, S_max = ρ‖C∇L‖ + O(ρ²).

Algorithm: normalized projected gradient ascent on f(δ) = L(θ + c⊙δ) over the ball (Madry et al.'s PGD, ICLR 2018):
    δ₀ = ρ ĝ (SAM's step, ĝ = ∇f(0)/‖∇f(0)‖; a random unit direction from `key` where ∇f(0) = 0),
    δₖ₊₁ = Proj_{‖δ‖≤ρ}(δₖ + η ∇f(δₖ)/‖∇f(δₖ)‖),   η = step_size (default 2ρ, Auto-PGD's initial step, Croce &
Hein, ICML 2020), keeping the best iterate. For a quadratic at its minimum each step multiplies the components of δ
along the eigenvectors of C H C by 1 + η λᵢ/(ρ‖CHCδ̂‖) before renormalising: a damped power iteration, converging at
the rate of the eigengap. Ascent finds a local maximum, so the value is a lower bound of
S_max. `converged` says the best value changed by less than rtol (relative) over the last step; cost: num_steps + 1
gradient evaluations over all batches.
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from flatness_curvature._batch_loss import batch_loss, evaluate
from flatness_curvature._checks import check_int, check_key
from flatness_curvature._convergence import warn_unless_converged
from flatness_curvature._filter_jit import filter_jit
from flatness_curvature._precision import working_dtype
from flatness_curvature._random_vectors import random_vector, shape_struct
from flatness_curvature._sharpness_average import check_radius, perturbation_scale
from flatness_curvature._tree_linalg import tree_add, tree_norm, tree_scale


class WorstCaseSharpness(NamedTuple):
  """The best rise of the loss found, L(θ + ε) − L(θ), the perturbation ε = c⊙δ, the ascent steps, convergence."""
  value: Any
  perturbation: Any
  num_steps: Any
  converged: Any


@filter_jit
def _run(losses, params, key, *, rho, num_steps, step_size, adaptive, eta, rtol):
  scale = perturbation_scale(params, adaptive, eta)
  base = evaluate(losses, params)
  work = working_dtype(jnp.result_type(base))

  def f(delta):
    theta = jax.tree.map(lambda p, c, d: p + (c * d).astype(p.dtype), params, scale, delta)
    return evaluate(losses, theta).astype(work)

  value_and_grad = jax.value_and_grad(f)
  zero = jax.tree.map(lambda x: jnp.zeros(x.shape, work), params)
  _, g0 = value_and_grad(zero)
  direction = jax.tree.map(lambda x: x.astype(work), random_vector(key, 0, shape_struct(params),
                                                                  distribution="gaussian"))
  has_gradient = tree_norm(g0) > 0
  direction = jax.tree.map(lambda g, r: jnp.where(has_gradient, g, r), g0, direction)
  delta0 = tree_scale(direction, rho / tree_norm(direction))

  def step(carry, _):
    delta, best, best_delta = carry
    value, grad = value_and_grad(delta)
    better = value > best
    best, best_delta = jnp.where(better, value, best), jax.tree.map(lambda a, b: jnp.where(better, a, b),
                                                                     delta, best_delta)
    moved = tree_add(delta, tree_scale(grad, step_size / jnp.maximum(tree_norm(grad), jnp.finfo(work).tiny)))
    moved = tree_scale(moved, jnp.minimum(1.0, rho / jnp.maximum(tree_norm(moved), jnp.finfo(work).tiny)))
    return (moved, best, best_delta), best

  init = (delta0, jnp.asarray(-jnp.inf, work), delta0)
  (last, best, best_delta), history = lax.scan(step, init, None, length=num_steps)
  final = f(last)
  best_delta = jax.tree.map(lambda a, b: jnp.where(final > best, a, b), last, best_delta)
  best = jnp.maximum(best, final)
  previous = history[-1]
  converged = jnp.abs(best - previous) <= rtol * jnp.abs(best - base.astype(work))
  eps = jax.tree.map(lambda c, d: c * d, scale, best_delta)
  return WorstCaseSharpness(best - base.astype(work), eps, num_steps, converged)


def worst_case_sharpness(loss_fn, params, batches, key, rho, *, num_steps=20, step_size=None, adaptive=False,
                         eta=0.0, rtol=1e-3, has_aux=False, num_examples=None):
  """max_{‖δ‖≤ρ} L(θ + c⊙δ) − L(θ) by projected gradient ascent (see the module docstring).

  Args:
    loss_fn: (params, batch) -> scalar mean loss (or (loss, aux) with has_aux=True).
    params: pytree of floating-point arrays θ.
    batches: one batch, a list or an iterable of batches; L is the mean loss over all their examples.
    key: a jax.random key (the start direction where the gradient vanishes).
    rho: the radius ρ > 0 of the ball (in δ; the perturbation is c⊙δ).
    num_steps: ascent steps (gradient evaluations: num_steps + 1).
    step_size: η; default 2ρ.
    adaptive: c = |θ| + eta instead of 1.
    eta: offset of the adaptive scaling.
    rtol: converged when the best value changed by ≤ rtol × its size over the last step.

  Returns:
    WorstCaseSharpness(value, perturbation, num_steps, converged); a ConvergenceWarning when not converged.
  """
  check_radius(rho, adaptive, eta)
  num_steps = check_int(num_steps, "num_steps")
  losses = batch_loss(loss_fn, params, batches, has_aux=has_aux, num_examples=num_examples)
  key = check_key(key)
  step = 2.0 * rho if step_size is None else float(step_size)
  res = _run(losses, params, key, rho=float(rho), num_steps=num_steps, step_size=step, adaptive=bool(adaptive),
             eta=float(eta), rtol=float(rtol))
  warn_unless_converged(res.converged, f"worst_case_sharpness: after num_steps={num_steps} the best value {{v}} "
                        f"still changed by more than rtol={rtol} in the last step; raise num_steps",
                        v=res.value)
  return res
