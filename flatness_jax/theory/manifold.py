"""The minimiser manifold Γ = {θ = (U, V) : U V = W*} of the check model: tangent and normal spaces, retraction.

Tangent space. Curves (U G(s), G(s)⁻¹ V) with G(0) = I, G'(0) = A stay in Γ, so at θ ∈ Γ
    T_θΓ = {(U A, −A V) : A ∈ R^{r×r}}   (dimension r², the null space of J = ∂(UV)/∂θ),
and the same formula defines, at any θ with U, V of full rank r, the null space of J(θ): a smooth field of
subspaces around Γ, so that the flow's vector field −P_T ∇f is defined (and tangent to Γ) in a neighbourhood.
`tangent_projector` is the orthogonal projector onto it, P_T = T (Tᵀ T)⁻¹ Tᵀ with T the r² columns (U E_ab, −E_ab V);
the normal space is its complement, N = range(Jᵀ), which on Γ is the range of ∇²L = Σ_i π_i J_iᵀ A_i J_i.

Retraction. `retract` solves the constraint c(θ) = U V − W* = 0 by Gauss–Newton steps of minimum norm,
θ ← θ − J⁺ c(θ) (J has rank r(m + d) − r², so J⁺ is a pseudo-inverse); the residual converges quadratically, and the
point reached differs from the nearest point of Γ by O(‖c‖²). `nearest_point` makes it exact: it repeats
y ← retract(y + P_T(y)(θ − y)) until θ − y is normal to T_yΓ (the first-order condition of min_{y∈Γ} ‖θ − y‖), and
`distance` is ‖θ − y‖.
"""
import functools

import jax
import jax.numpy as jnp
from jax import lax

from flatness_jax.theory import model

_PINV_RTOL = 1e-10  # singular values of J below this fraction of the largest are its null space


@jax.jit
def constraint(theta, problem):
  """c(θ) = vec(U V − W*): zero exactly on Γ."""
  u, v = model.unflatten(theta, problem)
  return jnp.ravel(u @ v - problem.teacher)


@jax.jit
def tangent_basis(theta, problem):
  """T [M, r²]: the columns (U E_ab, −E_ab V), a basis of T_θΓ (of null J(θ) off Γ)."""
  u, v = model.unflatten(theta, problem)
  r = u.shape[1]
  eye = jnp.eye(r * r, dtype=theta.dtype).reshape(r * r, r, r)
  cols = jax.vmap(lambda a: model.flatten(u @ a, -a @ v))(eye)
  return cols.T


@jax.jit
def tangent_projector(theta, problem):
  """P_T [M, M], the orthogonal projector onto T_θΓ."""
  t = tangent_basis(theta, problem)
  return t @ jnp.linalg.solve(t.T @ t, t.T)


@jax.jit
def project_tangent(theta, problem, w):
  """P_T(θ) w for a vector w of parameter size."""
  t = tangent_basis(theta, problem)
  return t @ jnp.linalg.solve(t.T @ t, t.T @ w)


@functools.partial(jax.jit, static_argnames="num_iters")
def retract(theta, problem, num_iters: int = 12):
  """A point of Γ near θ: `num_iters` minimum-norm Gauss–Newton steps θ ← θ − J⁺ c(θ)."""
  def step(_, th):
    jac = jax.jacfwd(constraint)(th, problem)
    return th - jnp.linalg.pinv(jac, rtol=_PINV_RTOL) @ constraint(th, problem)
  return lax.fori_loop(0, num_iters, step, theta)


@functools.partial(jax.jit, static_argnames="num_iters")
def nearest_point(theta, problem, num_iters: int = 12):
  """The nearest point y of Γ to θ (θ − y ⟂ T_yΓ), by alternating tangent moves and retractions."""
  def step(_, y):
    return retract(y + project_tangent(y, problem, theta - y), problem)
  return lax.fori_loop(0, num_iters, step, retract(theta, problem))


@jax.jit
def distance(theta, problem):
  """‖θ − nearest_point(θ)‖, the Euclidean distance from θ to Γ."""
  return jnp.linalg.norm(theta - nearest_point(theta, problem))
