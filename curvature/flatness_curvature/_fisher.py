"""Fisher information operators for categorical models: exact, Monte-Carlo (sampled labels) and empirical.

With logits z = logits_fn(θ, x) ∈ R^C per example, p = softmax(z), J = ∂z/∂θ and the score of label y
g_y = ∇_θ log p_θ(y|x) = Jᵀ(e_y − p), three matrices are in use (Kunstner, Balles & Hennig, "Limitations of the
empirical Fisher approximation for natural gradient descent", NeurIPS 2019; Martens, JMLR 2020):
  * the Fisher        F  = (1/N) Σₙ E_{y~p_θ(·|xₙ)} g_y g_yᵀ = (1/N) Σₙ Jₙᵀ (diag pₙ − pₙpₙᵀ) Jₙ
                           (equal to the GGN of the softmax cross-entropy; `fisher_matvec(key=None)`),
  * its Monte-Carlo estimate with S labels sampled from the model per example,
                      F̂  = (1/(N S)) Σₙ Σₛ g_{yₙₛ} g_{yₙₛ}ᵀ,  yₙₛ ~ p_θ(·|xₙ)   (unbiased; `fisher_matvec(key=k)`),
  * the empirical Fisher with the true labels, F_emp = (1/N) Σₙ g_{yₙ} g_{yₙ}ᵀ     (`empirical_fisher_matvec`),
    which is not the Fisher: it is biased towards the gradients actually observed.
At a global minimum of the population loss (p_θ = p*) the Fisher equals the Hessian (see _fisher_trace.py).

Products from one linearization of the logits per batch: u = J v (forward), then for each kind a per-example vector
in logit space, r = (diag p − ppᵀ) u, or Σₛ (e_y − p)((e_y − p)ᵀu)/S, and F v = Jᵀ r / N (the transpose of the same
linearization). Logits may have extra axes [N, ..., C]: every position counts as an example of the mean.
The MC labels of batch b are drawn with fold_in(key, b), so the operator is a fixed matrix for a fixed key.
"""
import math

import jax
import jax.numpy as jnp

from flatness_curvature._checks import check_callable, check_int, check_key, check_not_key, check_params
from flatness_curvature._operator import batched_operator
from flatness_curvature._precision import working_dtype

ORDER = "(logits_fn, params, inputs, ...)"


def _logits_linearized(logits_fn, params, inputs):
  """(probs in working precision, J·, Jᵀ·, number of examples)."""
  logits, jvp = jax.linearize(lambda p: logits_fn(p, inputs), params)
  vjp = jax.linear_transpose(jvp, params)
  probs = jax.nn.softmax(logits.astype(working_dtype(logits.dtype)), axis=-1)
  return probs, jvp, vjp, math.prod(logits.shape[:-1])


def _outer(e, u):
  """Σ over the leading sample axis of e (e·u summed over classes): the logit-space vector of Σ g gᵀ v."""
  return jnp.sum(e * jnp.sum(e * u, axis=-1, keepdims=True), axis=0)


def _fisher_linearize(fns, params, inputs, index, key):
  (logits_fn, num_samples) = fns
  probs, jvp, vjp, n = _logits_linearized(logits_fn, params, inputs)
  if key is None:
    def logit_space(u):
      return probs * u - probs * jnp.sum(probs * u, axis=-1, keepdims=True)
  else:
    labels = jax.random.categorical(jax.random.fold_in(key, index), jnp.log(probs),
                                    shape=(num_samples,) + probs.shape[:-1])
    e = jax.nn.one_hot(labels, probs.shape[-1], dtype=probs.dtype) - probs

    def logit_space(u):
      return _outer(e, u) / num_samples

  def matvec(v):
    u = jvp(v)
    return vjp((logit_space(u.astype(probs.dtype)) / n).astype(u.dtype))[0]
  return matvec


def _empirical_linearize(fns, params, batch, index, extra):
  del index, extra
  (logits_fn,) = fns
  inputs, labels = batch
  probs, jvp, vjp, n = _logits_linearized(logits_fn, params, inputs)
  e = (jax.nn.one_hot(labels, probs.shape[-1], dtype=probs.dtype) - probs)[None]

  def matvec(v):
    u = jvp(v)
    return vjp((_outer(e, u.astype(probs.dtype)) / n).astype(u.dtype))[0]
  return matvec


def fisher_matvec(logits_fn, params, inputs, *, key=None, num_samples=1, mask=None, num_examples=None):
  """The Fisher F of a categorical model as an Operator (`op(v)` is F v): exact with key=None, else the Monte-Carlo
  estimate with `num_samples` labels per example drawn from the model under `key`.

  Args:
    logits_fn: (params, inputs) -> logits [N, ..., C]; examples independent.
    params: pytree of floating-point arrays.
    inputs: one batch of inputs, a list or an iterable of them (_batches.py), leading axis = examples.
    key: None (exact) or a jax.random key (sampled labels).
    num_samples: labels per example (Monte-Carlo only).
    mask: optional pytree of bools: P F P.
    num_examples: examples per batch when the inputs cannot say it (_batches.py).
  """
  check_callable(logits_fn, "logits_fn", ORDER)
  check_not_key(inputs, "inputs", ORDER)
  check_params(params)
  if key is not None:
    key = check_key(key)
  num_samples = check_int(num_samples, "num_samples")
  return batched_operator(_fisher_linearize, (logits_fn, num_samples), params, inputs, mask=mask, extra=key,
                          num_examples=num_examples, name="inputs")


def empirical_fisher_matvec(logits_fn, params, batches, *, mask=None, num_examples=None):
  """The empirical Fisher (1/N) Σₙ g_{yₙ} g_{yₙ}ᵀ with the true labels, as an Operator (`op(v)` is F_emp v).

  Args:
    logits_fn: (params, inputs) -> logits [N, ..., C].
    params: pytree of floating-point arrays.
    batches: one batch (inputs, labels) with integer labels [N, ...], or a list / iterable of them.
    mask, num_examples: as in fisher_matvec.
  """
  check_callable(logits_fn, "logits_fn", ORDER)
  check_not_key(batches, "batches", ORDER)
  check_params(params)
  return batched_operator(_empirical_linearize, (logits_fn,), params, batches, mask=mask, num_examples=num_examples)
