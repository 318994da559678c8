"""The generalized Gauss–Newton (GGN) matrix as an operator.

For a loss that factors through the model's outputs, L(θ) = ℓ(z(θ)) with z = model_fn(θ, batch) (any pytree of
arrays, e.g. logits [N, C]) and ℓ(z) = loss_fn(z, batch), the Hessian splits as
    ∇²L = Jᵀ ∇²_z ℓ J + Σ_k (∂ℓ/∂z_k) ∇²z_k,      J = ∂z/∂θ,
and the GGN keeps the first term, G = Jᵀ (∇²_z ℓ) J (Schraudolph 2002; Martens, "New insights and perspectives on the
natural gradient method", JMLR 2020). G is positive semi-definite whenever ℓ is convex in z, and equals the Hessian
where the residual term vanishes (a linear model, or zero residuals). For softmax cross-entropy on logits,
∇²_z ℓ = diag(p) − p pᵀ per example, so G is the Fisher information of the model's predictive distribution
(see _fisher.py).

Product: G v = Jᵀ (H_z (J v)) with J v a forward-mode `jax.linearize` of the model, its transpose (the
reverse-mode product Jᵀ u) from `jax.linear_transpose` of the same linearization, and H_z u a linearized
gradient of ℓ in z: one model linearization per batch, then each product costs one tangent and one cotangent
pass of the model.
"""
import jax

from flatness_curvature._checks import check_callable, check_not_key, check_params
from flatness_curvature._operator import batched_operator

ORDER = "(model_fn, loss_fn, params, batches, ...)"


def _linearize(fns, params, batch, index, extra):
  del index, extra
  model_fn, loss_fn = fns
  z, jvp = jax.linearize(lambda p: model_fn(p, batch), params)
  vjp = jax.linear_transpose(jvp, params)
  _, hess_z = jax.linearize(jax.grad(lambda out: loss_fn(out, batch)), z)
  return lambda v: vjp(hess_z(jvp(v)))[0]


def ggn_matvec(model_fn, loss_fn, params, batches, *, mask=None, num_examples=None):
  """The GGN G = Σ_b (n_b/N) J_bᵀ ∇²_z ℓ_b J_b at θ = params as an Operator (`op(v)` is G v).

  Args:
    model_fn: (params, batch) -> outputs z (a pytree of arrays, e.g. logits).
    loss_fn: (outputs, batch) -> scalar mean loss over the batch; loss_fn(model_fn(θ, b), b) is the loss.
    params: pytree of floating-point arrays.
    batches: one batch, a list or an iterable of batches (_batches.py).
    mask: optional pytree of bools: P G P.
    num_examples: examples per batch when the batches cannot say it (_batches.py).
  """
  check_callable(model_fn, "model_fn", ORDER)
  check_callable(loss_fn, "loss_fn", ORDER)
  check_not_key(batches, "batches", ORDER)
  check_params(params)
  return batched_operator(_linearize, (model_fn, loss_fn), params, batches, mask=mask, num_examples=num_examples)
