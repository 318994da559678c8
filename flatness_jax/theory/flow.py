"""The limiting flow of SGD on Γ predicted by Theorem 4.3 of Liu et al. (2023), integrated numerically.

Theorem (Li, Wang & Arora 2022, §4–5: the limiting diffusion and its label-noise case; Liu et al. 2023, Thm 4.3).
Write SGD with batch B as θ_{k+1} = θ_k − η ∇L(θ_k) − η ξ_k with E ξ_k = 0 and Cov ξ_k = Σ(θ_k). Started near Γ,
Φ(θ_k) (Φ: the limit of gradient flow from θ, a map onto Γ) converges, in the time t = η² k and as η → 0, to the
solution of
    dY/dt = ½ ∂²Φ(Y)[Σ(Y)].
Derivation of the constant for our setting (the ½'s, with L the *mean* per-example loss and θ ← θ − η·(batch mean
gradient), exactly what sgd.py runs):
  1. Second-order expansion of Φ at y ∈ Γ in a normal displacement n: gradient flow from y + n relaxes n as
     e^{−Hs} n (H = ∇²L(y)) while the quadratic term ½ ∇³L[n, n] of ∇L pushes along Γ, so
     Φ(y + n) = y − ½ P_T ∇³L[X] + O(‖n‖³),   H X + X H = n nᵀ   (X = ∫₀^∞ e^{−Hs} n nᵀ e^{−Hs} ds),
     i.e. ∂²Φ(y)[Σ] = −P_T ∇³L[𝓛_H⁻¹ Σ] for Σ in the normal space (𝓛_H X = H X + X H, the Lyapunov operator).
  2. Our noise (model.py) on Γ: Σ = ∇²L / B, whose range is the normal space; 𝓛_H⁻¹(H) = P_N / 2.
  3. ∇³L[P_N] = ∇³L[I] − ∇³L[P_T] and P_T ∇³L[u, u] = −P_T H γ'' = 0 for u tangent (differentiate H(γ(s)) γ'(s) = 0
     along a curve γ of Γ), so P_T ∇³L[P_N] = P_T ∇ Tr ∇²L.
Together: ½ ∂²Φ[∇²L / B] = ½ · (−P_T ∇ Tr∇²L / 2) / B, the flow
    dθ/dt = −(1/(4B)) P_T(θ) ∇ Tr ∇²L(θ),   t = η² k,
with no extra convention: the paper's literal constant, and the numbers agree (configs/theory_drift.py: the η → 0
limits of measured/predicted decrease of Tr∇²L are within 0.6% of 1 on Γ, 2.5% at the iterate, for B = 1, 4, 16).
The tangential part of the noise is O(dist to Γ) = O(√η) and drops out in the limit; the noise does not vanish on Γ
because the teacher's labels are random (an interpolating, deterministic-label problem would give Σ = 0 on Γ and no
drift at this order).

Integration. The vector field v(θ) = −(1/(4B)) P_T(θ) ∇ Tr∇²L(θ) (P_T the projector onto null ∂(UV)/∂θ, defined
around Γ and tangent to Γ on it) is integrated by classical Runge–Kutta 4 steps, each followed by a retraction onto
Γ (the projection method; Hairer, Lubich & Wanner, Geometric Numerical Integration, §IV.4: it keeps the order of
the underlying method), so the error is O(h⁴) and the iterate is on Γ to machine precision after every step.
"""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from flatness_jax.theory import manifold, model


@jax.jit
def velocity(theta, problem, batch_size):
  """dθ/dt = −(1/(4B)) P_T(θ) ∇ Tr ∇²L(θ)."""
  grad = model.hessian_trace_gradient(theta, problem)
  return -manifold.project_tangent(theta, problem, grad) / (4.0 * batch_size)


_RK4_NODES = (0.0, 0.5, 0.5, 1.0)
_RK4_WEIGHTS = (1 / 6, 1 / 3, 1 / 3, 1 / 6)


def rk4_step(theta, problem, batch_size, h):
  """One classical Runge–Kutta 4 step of `velocity` of size h, then retraction onto Γ.

  Stage i evaluates k_i = v(θ + c_i h k_{i−1}) (c = 0, ½, ½, 1) and the step is θ + h Σ b_i k_i (b = 1/6, 1/3, 1/3,
  1/6); the stages run as a lax.scan so the velocity is compiled once, not four times.
  """
  def stage(carry, node_weight):
    k_prev, acc = carry
    node, weight = node_weight
    k = velocity(theta + node * h * k_prev, problem, batch_size)
    return (k, acc + weight * k), None
  zeros = jnp.zeros_like(theta)
  (_, incr), _ = lax.scan(stage, (zeros, zeros), (jnp.asarray(_RK4_NODES), jnp.asarray(_RK4_WEIGHTS)))
  return manifold.retract(theta + h * incr, problem, num_iters=3)


@jax.jit
def _advance(theta, problem, batch_size, h, num_steps):
  return lax.fori_loop(0, num_steps, lambda _, th: rk4_step(th, problem, batch_size, h), theta)


def integrate(problem, theta0, times, batch_size, max_step: float):
  """θ(t) of the flow from θ0 ∈ Γ at each of the increasing `times` (t ≥ 0), with RK4 steps of size ≤ max_step.

  Between consecutive output times the interval is split into equal steps, so each output time is hit exactly.
  Returns (thetas [len(times), M], traces [len(times)]: Tr ∇²L along the flow).
  """
  times = np.asarray(times, np.float64)
  if times.ndim != 1 or np.any(np.diff(times) < 0) or times[0] < 0:
    raise ValueError(f"times must be increasing and ≥ 0, got {times}")
  thetas, theta, now = [], jnp.asarray(theta0), 0.0
  for t in times:
    n = int(np.ceil((t - now) / max_step - 1e-9))
    if n > 0:
      theta = _advance(theta, problem, float(batch_size), (t - now) / n, n)
    thetas.append(theta)
    now = t
  thetas = jnp.stack(thetas)
  return thetas, _traces(thetas, problem)


@jax.jit
def _traces(thetas, problem):
  return jax.vmap(model.hessian_trace, in_axes=(0, None))(thetas, problem)
