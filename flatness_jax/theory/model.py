"""The check model of Theorem 4.3: factorised softmax regression on realisable labels, with exact population sums.

Inputs x take one of n values x_1..x_n (probabilities π_i; `make_problem`: ±√d e_j); labels come from a teacher,
y | x ~ softmax(z*(x)), z*(x) = (0, W* x) with W* ∈ R^{m×d}, m = C − 1 (class 0 is the reference: softmax is
invariant to adding a constant to every logit, so a full C-row weight would make the minimisers the larger set
{W* + 1aᵀ}). The model factorises the weight, θ = (U, V), U ∈ R^{m×r}, V ∈ R^{r×d}:

    z_θ(x) = (0, U V x),   ℓ(θ; x, y) = −log softmax(z_θ(x))_y,   L(θ) = Σ_i π_i Σ_c p*_c(x_i) ℓ(θ; x_i, c).

L is an exact finite sum. Its minimum, L* = Σ_i π_i H(p*(x_i)) (the teacher's conditional entropy), is reached
exactly when U V x_i = W* x_i for every i, i.e. (the x_i span R^d) on Γ = {θ : U V = W*}, a manifold of dimension r²
(θ ~ (U G, G⁻¹ V), G ∈ GL(r)) when rank W* = r. Parameters are one flat float64 vector θ = (vec U, vec V) of size
r(m + d); r is read from its size.

Hessian trace. z is linear in each single coordinate of θ (bilinear in U and V), so ∂²z/∂θ_p² = 0 and
    Tr ∇²L(θ) = Σ_i π_i [ tr(A_i) ‖V x_i‖² + ‖x_i‖² tr(Uᵀ A_i U) ],   A_i = diag(p_θ(x_i)) − p_θ(x_i) p_θ(x_i)ᵀ
(restricted to the m free classes) holds everywhere, not only on Γ; `hessian_trace` uses it and the tests compare it
with the trace of the dense Hessian (`hessian`, jax.hessian of L).

Noise. With y drawn from the teacher, the per-example gradient g = ∇ℓ has E[g] = ∇L and, on Γ (p_θ = p*),
    Cov[g] = Σ_i π_i J_iᵀ E_y[(p − e_y)(p − e_y)ᵀ] J_i = Σ_i π_i J_iᵀ A_i J_i = ∇²L
(the Fisher equals the Hessian: the residual term Σ_c (p − p*)_c ∇²z_c vanishes there). A batch of B fresh
i.i.d. examples therefore has gradient-noise covariance exactly ∇²L / B on Γ: the noise of Liu et al. (2023),
Theorem 4.3. `noise_covariance` computes it by enumerating every (x_i, y) pair.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Problem(NamedTuple):
  """The data distribution: support points, their probabilities, and the teacher weight W* (free logit rows)."""
  inputs: jax.Array   # [n, d] support points x_i
  weights: jax.Array  # [n] probabilities π_i (sum to 1)
  teacher: jax.Array  # [m, d] W*; logits of class 0 are pinned at 0


def make_problem(seed: int, num_classes: int = 3, dim: int = 3, rank: int = 2, teacher_scale: float = 1.0):
  """(problem, (U*, V*)): the support {±√d e_j} (uniform π, so E[x xᵀ] = I), and W* = U* V* of rank `rank`.

  U* V* is the balanced SVD factorisation of W* = P S Qᵀ (U* = P S^½, V* = S^½ Qᵀ), with P, Q random orthonormal
  (from `seed`) and the singular values spread over [1, 2]·teacher_scale, so logits are O(1). The axis support keeps
  the Hessian's nonzero eigenvalues within a factor ~4 at the default sizes (Gaussian support points, or r < m,
  gave normal eigenvalues down to 1e-3: directions that relax far slower than the drift).
  """
  m = num_classes - 1
  if not 1 <= rank <= min(m, dim):
    raise ValueError(f"rank={rank} must be in [1, min(num_classes - 1, dim)] = [1, {min(m, dim)}]")
  rng = np.random.default_rng(seed)
  p, _ = np.linalg.qr(rng.normal(size=(m, rank)))
  q, _ = np.linalg.qr(rng.normal(size=(dim, rank)))
  s = teacher_scale * np.linspace(2.0, 1.0, rank)
  u_star, v_star = p * np.sqrt(s), np.sqrt(s)[:, None] * q.T
  inputs = np.sqrt(dim) * np.concatenate([np.eye(dim), -np.eye(dim)])
  problem = Problem(jnp.asarray(inputs), jnp.full(2 * dim, 1.0 / (2 * dim)), jnp.asarray(u_star @ v_star))
  return problem, (jnp.asarray(u_star), jnp.asarray(v_star))


def rank_of(theta, problem: Problem) -> int:
  m, d = problem.teacher.shape
  return theta.shape[-1] // (m + d)


def flatten(u, v):
  """θ = (vec U, vec V) (row-major)."""
  return jnp.concatenate([jnp.ravel(u), jnp.ravel(v)])


def unflatten(theta, problem: Problem):
  """(U [m, r], V [r, d]) from θ."""
  m, d = problem.teacher.shape
  r = rank_of(theta, problem)
  return theta[:m * r].reshape(m, r), theta[m * r:].reshape(r, d)


def start_point(factors, imbalance: float):
  """A point of Γ: (U* g, V* / g) with g = `imbalance` (g = 1: the balanced factorisation)."""
  u_star, v_star = factors
  return flatten(u_star * imbalance, v_star / imbalance)


def _full_logits(free):
  return jnp.concatenate([jnp.zeros(free.shape[:-1] + (1,), free.dtype), free], axis=-1)


def logits(theta, problem: Problem, inputs=None):
  """z_θ(x) = (0, U V x) for each row of `inputs` (default: the support points): [n, C]."""
  u, v = unflatten(theta, problem)
  x = problem.inputs if inputs is None else inputs
  return _full_logits(x @ (u @ v).T)


def teacher_probs(problem: Problem):
  """p*(x_i) = softmax(0, W* x_i): [n, C]."""
  return jax.nn.softmax(_full_logits(problem.inputs @ problem.teacher.T), axis=-1)


@jax.jit
def population_loss(theta, problem: Problem):
  """L(θ) = Σ_i π_i Σ_c p*_c(x_i) (−log softmax z_θ(x_i))_c, exactly."""
  logp = jax.nn.log_softmax(logits(theta, problem), axis=-1)
  return -jnp.sum(problem.weights[:, None] * teacher_probs(problem) * logp)


@jax.jit
def population_minimum(problem: Problem):
  """L* = Σ_i π_i H(p*(x_i)), the value of L on Γ."""
  p = teacher_probs(problem)
  return -jnp.sum(problem.weights[:, None] * p * jnp.log(p))


@jax.jit
def hessian(theta, problem: Problem):
  """The dense Hessian ∇²L(θ) [M, M] (float64 under jax_enable_x64)."""
  return jax.hessian(population_loss)(theta, problem)


@jax.jit
def hessian_trace(theta, problem: Problem):
  """Tr ∇²L(θ) = Σ_i π_i [tr(A_i) ‖V x_i‖² + ‖x_i‖² tr(Uᵀ A_i U)] (exact everywhere; module docstring)."""
  u, v = unflatten(theta, problem)
  p = jax.nn.softmax(logits(theta, problem), axis=-1)[:, 1:]  # [n, m] free classes
  tr_a = jnp.sum(p - p ** 2, axis=-1)                            # tr A_i
  ua = jnp.einsum("nk,kr->nr", p, u ** 2).sum(-1) - jnp.sum((p @ u) ** 2, axis=-1)  # tr(Uᵀ A_i U)
  vx = problem.inputs @ v.T
  xx = jnp.sum(problem.inputs ** 2, axis=-1)
  return jnp.sum(problem.weights * (tr_a * jnp.sum(vx ** 2, axis=-1) + xx * ua))


@jax.jit
def hessian_trace_gradient(theta, problem: Problem):
  """∇_θ Tr ∇²L(θ) (autodiff of the closed form)."""
  return jax.grad(hessian_trace)(theta, problem)


def example_losses(theta, problem: Problem, index, label):
  """ℓ(θ; x_index, label) for integer arrays `index`, `label` of one shape."""
  logp = jax.nn.log_softmax(logits(theta, problem, problem.inputs[index]), axis=-1)
  return -jnp.take_along_axis(logp, label[..., None], axis=-1)[..., 0]


def batch_loss(theta, problem: Problem, index, label):
  """The mean loss of a batch of examples, (1/B) Σ_b ℓ(θ; x_{index_b}, label_b)."""
  return jnp.mean(example_losses(theta, problem, index, label))


def sample_batch(key, problem: Problem, batch_size: int):
  """B fresh i.i.d. examples from the population: index ~ π, label ~ p*(x_index), by inverting the CDFs of two
  uniforms (one random draw: compiles ~3× faster on CPU than jax.random.categorical's Gumbel trick)."""
  u = jax.random.uniform(key, (2, batch_size), dtype=problem.weights.dtype)
  n = problem.weights.shape[0]
  index = jnp.minimum(jnp.sum(u[0][:, None] >= jnp.cumsum(problem.weights)[None, :], axis=-1), n - 1)
  cdf = jnp.cumsum(teacher_probs(problem)[index], axis=-1)
  label = jnp.minimum(jnp.sum(u[1][:, None] >= cdf, axis=-1), cdf.shape[-1] - 1)
  return index, label


@jax.jit
def noise_covariance(theta, problem: Problem, batch_size=1):
  """Cov of the batch-B gradient: (Σ_{i,c} π_i p*_c(x_i) g_ic g_icᵀ − ∇L ∇Lᵀ) / B, every pair enumerated."""
  n, c = teacher_probs(problem).shape
  index, label = jnp.meshgrid(jnp.arange(n), jnp.arange(c), indexing="ij")
  grads = jax.vmap(jax.grad(lambda t, i, y: example_losses(t, problem, i, y)), in_axes=(None, 0, 0))(
      theta, index.ravel(), label.ravel())
  w = (problem.weights[:, None] * teacher_probs(problem)).ravel()
  mean = w @ grads
  return (grads.T @ (w[:, None] * grads) - jnp.outer(mean, mean)) / batch_size
