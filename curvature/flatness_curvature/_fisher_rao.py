"""The Fisher–Rao norm of the parameters (Liang, Poggio, Rakhlin & Stokes, "Fisher–Rao metric, geometry, and
complexity of neural networks", AISTATS 2019).

    ‖θ‖²_fr = ⟨θ, F(θ) θ⟩ = (1/N) Σₙ E_y [⟨∇_θ log p_θ(y|xₙ), θ⟩²],

the squared length of the parameter vector in the Fisher metric at θ. With logits z = z_θ(x), p = softmax(z),
∇_θ log p_θ(y|x) = Jᵀ(e_y − p), so ⟨g_y, θ⟩ = (e_y − p)ᵀ u with u = Jθ, the directional derivative of the logits
along θ itself (one forward-mode product, `jax.jvp` with tangent θ). Then, per example,
  * model Fisher (y ~ p_θ, exact expectation over the C classes): Σ_c p_c (u_c − pᵀu)² = Var_{c~p}(u_c),
  * empirical Fisher (the true label yₙ, `labels=`): (u_{yₙ} − pᵀu)²,
both exact — no sampling. For a network without biases and with ReLU-type (positively homogeneous) activations,
u = (depth + 1)·z by Euler's theorem, which gives Liang et al.'s form ‖θ‖²_fr = (L+1)² E[⟨∂ℓ/∂z, z⟩²]; the ⟨θ, Fθ⟩
form computed here holds for any architecture. Liang et al. report both the model and the empirical version.

The value is the mean over examples of the per-example terms, with SE = their std / √N (i.i.d. examples; logits with
extra axes [N, ..., C] are averaged within each example first). Cost: one forward-mode pass over the inputs.
"""
import jax
import jax.numpy as jnp

from flatness_curvature import _estimate as estimate
from flatness_curvature._batches import as_batch_list
from flatness_curvature._checks import check_callable, check_not_key, check_params
from flatness_curvature._filter_jit import filter_jit
from flatness_curvature._precision import working_dtype

ORDER = "(logits_fn, params, inputs, ...)"


@filter_jit
def _per_example(logits_fn, params, inputs, labels):
  logits, u = jax.jvp(lambda p: logits_fn(p, inputs), (params,), (params,))
  work = working_dtype(logits.dtype)
  logits, u = logits.astype(work), u.astype(work)
  probs = jax.nn.softmax(logits, axis=-1)
  centred = u - jnp.sum(probs * u, axis=-1, keepdims=True)
  if labels is None:
    terms = jnp.sum(probs * centred ** 2, axis=-1)
  else:
    terms = jnp.take_along_axis(centred, labels[..., None], axis=-1)[..., 0] ** 2
  return jnp.mean(terms.reshape(terms.shape[0], -1), axis=1)


def fisher_rao_norm_sq(logits_fn, params, inputs, *, labels=None):
  """‖θ‖²_fr = ⟨θ, F θ⟩ (model Fisher; the empirical one with `labels`), as an Estimate over examples.

  Args:
    logits_fn: (params, inputs) -> logits [N, ..., C]; examples independent.
    params: pytree of floating-point arrays θ.
    inputs: one batch of inputs, or a list of them (leading axis = examples).
    labels: None (model Fisher), or integer labels [N, ...] (one array, or a list matching the list of inputs).

  Returns:
    Estimate(value, stderr, dof, num_evaluations = number of examples).
  """
  check_callable(logits_fn, "logits_fn", ORDER)
  check_not_key(inputs, "inputs", ORDER)
  check_params(params)
  input_list = as_batch_list(inputs, "inputs")
  label_list = [None] * len(input_list) if labels is None else (
      labels if isinstance(labels, list) else [labels])
  if len(label_list) != len(input_list):
    raise ValueError(f"labels: {len(label_list)} arrays for {len(input_list)} batches of inputs")
  terms = jnp.concatenate([_per_example(logits_fn, params, x, y) for x, y in zip(input_list, label_list)])
  value, stderr, dof = estimate.mean_and_stderr(terms)
  return estimate.Estimate(value, stderr, dof, terms.shape[0])
