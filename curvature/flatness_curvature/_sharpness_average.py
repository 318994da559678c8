"""Average-case ρ-sharpness and its adaptive (reparameterisation-invariant) version.

    S_avg(θ; ρ) = E_{δ~N(0, ρ²I)} [L(θ + c ⊙ δ)] − L(θ),   c = 1 (plain) or c = |θ| + η (adaptive),

the expected rise of the loss under random Gaussian perturbations of the weights: Keskar et al. ("On large-batch
training for deep learning: generalization gap and sharp minima", ICLR 2017) and Jiang et al. ("Fantastic
generalization measures and where to find them", ICLR 2020) for the plain version; the adaptive one scales each
parameter's perturbation by its magnitude (Kwon et al., "ASAM", ICML 2021; Andriushchenko et al., "A modern look at
the relationship between sharpness and generalization", ICML 2023, whose S^ρ_avg with c = |w| this is, computed on
the given batches), so it does not change when a ReLU layer is scaled by α and the next by 1/α, which rescales
plain sharpness arbitrarily (Dinh et al., "Sharp minima can generalize for deep nets", ICML 2017).

Second order: L(θ + ε) − L(θ) = gᵀε + ½ εᵀHε + O(‖ε‖³) with E ε = 0, so S_avg = ½ ρ² Tr(C H C) + O(ρ⁴)
(C = diag(c); odd orders vanish by symmetry) — ρ²Tr(H)/2 plain, ρ² Σ_j c_j² H_jj / 2 adaptive, exactly for a
quadratic loss. Estimated by Monte Carlo with antithetic pairs (±δ have the same distribution):
    sᵢ = ½ [L(θ + c⊙δᵢ) + L(θ − c⊙δᵢ)] − L(θ),   Ŝ = mean(sᵢ),   SE = std(sᵢ)/√m,
which removes the gradient term gᵀε — the dominant noise away from a minimum — from every sample, exactly
(for a quadratic, sᵢ = ½ δᵢᵀ C H C δᵢ). δᵢ is the Gaussian random vector number i of `key` (_random_vectors.py).
Cost: 2m + 1 evaluations of the loss over all batches. In float32 the difference of two losses loses digits when
ρ is small (relative rounding ≈ 1e-7·L / S_avg): use ρ large enough, or float64, for small sharpness.
"""
import jax
import jax.numpy as jnp

from flatness_curvature import _estimate as estimate
from flatness_curvature._batch_loss import batch_loss, evaluate
from flatness_curvature._blocks import chunked_map
from flatness_curvature._checks import check_int, check_key
from flatness_curvature._filter_jit import filter_jit
from flatness_curvature._precision import working_dtype
from flatness_curvature._random_vectors import random_vector, shape_struct


def perturbation_scale(params, adaptive, eta):
  """c: ones (plain) or |θ| + η (adaptive), shaped like params."""
  if adaptive:
    return jax.tree.map(lambda x: jnp.abs(x) + eta, params)
  return jax.tree.map(jnp.ones_like, params)


def check_radius(rho, adaptive, eta):
  if not rho > 0:
    raise ValueError(f"rho must be > 0 (the perturbation radius), got {rho!r}")
  if not eta >= 0:
    raise ValueError(f"eta must be >= 0, got {eta!r}")
  if eta and not adaptive:
    raise ValueError("eta is the offset of the adaptive scaling |θ| + eta: pass adaptive=True with it")


@filter_jit
def _run(losses, params, key, *, rho, num_samples, adaptive, eta, chunk_size):
  scale = perturbation_scale(params, adaptive, eta)
  like = shape_struct(params)
  base = evaluate(losses, params)
  work = working_dtype(jnp.result_type(base))

  def sample(i):
    delta = random_vector(key, i, like, distribution="gaussian")
    eps = jax.tree.map(lambda d, c: (rho * c * d).astype(d.dtype), delta, scale)
    up = evaluate(losses, jax.tree.map(jnp.add, params, eps)).astype(work)
    down = evaluate(losses, jax.tree.map(jnp.subtract, params, eps)).astype(work)
    return 0.5 * (up + down) - base.astype(work)
  samples = chunked_map(sample, jnp.arange(num_samples), chunk_size)
  value, stderr, dof = estimate.mean_and_stderr(samples)
  return estimate.Estimate(value, stderr, dof, 2 * num_samples + 1)


def average_sharpness(loss_fn, params, batches, key, rho, *, num_samples=64, adaptive=False, eta=0.0, chunk_size=1,
                      has_aux=False, num_examples=None):
  """E_{δ~N(0,ρ²I)}[L(θ + c⊙δ)] − L(θ) by antithetic Monte Carlo (see the module docstring).

  Args:
    loss_fn: (params, batch) -> scalar mean loss (or (loss, aux) with has_aux=True).
    params: pytree of floating-point arrays θ.
    batches: one batch, a list or an iterable of batches; L is the mean loss over all their examples.
    key: a jax.random key (the Gaussian directions δᵢ).
    rho: the perturbation scale ρ > 0 (per coordinate, times c).
    num_samples: antithetic pairs m (2m + 1 loss evaluations), at least 2.
    adaptive: scale the perturbation by c = |θ| + eta (Kwon et al. 2021; Andriushchenko et al. 2023).
    eta: offset of the adaptive scaling (ASAM's η; 0 in Andriushchenko et al.).
    chunk_size: samples vmapped together.

  Returns:
    Estimate(value, stderr, dof, num_evaluations) with `.ci95`.
  """
  check_radius(rho, adaptive, eta)
  num_samples = check_int(num_samples, "num_samples", 2, " (an error bar needs two samples)")
  losses = batch_loss(loss_fn, params, batches, has_aux=has_aux, num_examples=num_examples)
  key = check_key(key)
  return _run(losses, params, key, rho=float(rho), num_samples=num_samples, adaptive=bool(adaptive),
              eta=float(eta), chunk_size=chunk_size)
