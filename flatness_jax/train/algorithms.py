"""Training algorithms that change flatness at fixed size (Liu et al. 2023, §3 and App. A.4): the gradient a step
takes, as a function of the objective.

- 'standard': ∇L(θ), for AdamW or SGD (the optimizer is separate: config.optimizer).
- 'sam' (Foret et al. 2021, sharpness-aware minimisation): ∇L(θ + ρ ĝ), ĝ = ∇L(θ)/‖∇L(θ)‖, the gradient at the
  worst-case point of a ρ-ball to first order; it is known to lower Tr(H) (Wen, Ma & Li 2023).
- 'trace_penalty': ∇[L(θ) + μ·T̂(θ)], T̂(θ) = (1/k) Σᵢ vᵢᵀ ∇²L(θ) vᵢ with fresh Rademacher probes vᵢ each step
  (Hutchinson 1989; the curvature toolkit's estimator, flatness_curvature.trace_estimate), an unbiased
  estimate of Tr ∇²L whose gradient is taken by automatic differentiation (reverse over forward-over-reverse);
  μ trades loss for flatness explicitly.
- 'adversarial' (the paper's App. A.4): ∇[L_pre(ψ) − λ·L_down(ψ)], L_down the cross-entropy of a linear probe head
  (fitted on frozen features of a disjoint labelled split every `refit_every` steps, and between refits trained
  by one descent step per training step on that step's labelled sentences, so it keeps up with the encoder: a
  descent–ascent game) on fresh labelled sentences. It aims to keep the pre-training loss low while making the
  representation worse for the downstream task: same loss, worse transfer (λ must be small enough to keep the loss).
All variants return (pre-training loss, gradient, extra metrics).
"""
import functools

import jax
import ml_collections
import optax

import flatness_curvature as curvature
from flatness_jax.models import readout

ALGORITHMS = ("standard", "sam", "trace_penalty", "adversarial")
STANDARD = ml_collections.ConfigDict({"algorithm": "standard"})


def _tree_add(a, b, scale=1.0):
  return jax.tree.map(lambda x, y: x + scale * y, a, b)


def hutchinson_trace_term(loss_fn, params, key, num_probes: int):
  """(1/k) Σᵢ vᵢᵀ ∇²loss(params) vᵢ with the toolkit's Rademacher probes vᵢ (differentiable in params)."""
  matvec = functools.partial(curvature.hvp, lambda p, _: loss_fn(p), params, None)
  return curvature.trace_estimate(matvec, params, key, method="hutchinson", num_matvecs=num_probes).value


def downstream_loss(model, params, head, batch):
  """Cross-entropy of the linear probe `head` on the encoder's concatenated token features (padding zeroed)."""
  feats = readout.pooled_features(model, params, batch["inputs"], batch["lengths"], "concat")
  return readout.head_loss(head, feats, batch["labels"])


def update_head(model, params, head, batch, learning_rate: float):
  """One gradient-descent step of the probe head on the labelled batch, features of the current encoder frozen."""
  feats = readout.pooled_features(model, params, batch["inputs"], batch["lengths"], "concat")
  return readout.head_descent_step(head, feats, batch["labels"], learning_rate)


def value_and_grad(cfg, loss_fn, params, key, *, model=None, head=None, labelled=None, adversarial_lambda=None):
  """(loss, grads, metrics) of one step under algorithm `cfg.algorithm` (config.train); loss_fn(params) -> L.

  `adversarial_lambda` (a traced scalar) overrides cfg.adversarial_lambda (adversarial.LambdaControl moves it).
  """
  algo = cfg.algorithm
  if algo == "standard":
    loss, g = jax.value_and_grad(loss_fn)(params)
    return loss, g, {}
  if algo == "sam":
    loss, g = jax.value_and_grad(loss_fn)(params)
    scale = cfg.sam_rho / (optax.global_norm(g) + 1e-12)
    _, g_sam = jax.value_and_grad(loss_fn)(_tree_add(params, g, scale))
    return loss, g_sam, {}
  if algo == "trace_penalty":
    def total(p):
      loss = loss_fn(p)
      t = hutchinson_trace_term(loss_fn, p, key, cfg.trace_probes)
      return loss + cfg.trace_penalty * t, (loss, t)
    (_, (loss, t)), g = jax.value_and_grad(total, has_aux=True)(params)
    return loss, g, {"trace_estimate": t}
  if algo == "adversarial":
    lam = cfg.adversarial_lambda if adversarial_lambda is None else adversarial_lambda

    def total(p):
      loss = loss_fn(p)
      d = downstream_loss(model, p, head, labelled)
      return loss - lam * d, (loss, d)
    (_, (loss, d)), g = jax.value_and_grad(total, has_aux=True)(params)
    return loss, g, {"downstream_loss": d}
  raise ValueError(f"train.algorithm={algo!r} is unknown; choose one of {ALGORITHMS}")
