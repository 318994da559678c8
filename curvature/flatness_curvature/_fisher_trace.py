"""Trace of the Hessian at a global optimum through sampled-label gradient norms (Liu, Xie, Li & Ma, "Same
Pre-training Loss, Better Downstream: Implicit Bias Matters for Language Models", ICML 2023, §5 and App. B.1).

With logits z = z_θ(x), p = softmax(z), J = ∂z/∂θ and ℓ = −log p_θ(y|x) = −z_y + logsumexp(z):
    ∇²ℓ = Jᵀ (diag p − p pᵀ) J + Σ_c (p_c − [c = y]) ∇²z_c.
For the population loss L(θ) = E_x E_{y~p*(·|x)} ℓ the second term averages to E_x Σ_c (p_c − p*_c) ∇²z_c, which
vanishes at a global minimum (p_θ = p*). The first term is the Fisher information: with g = ∇_θ log p_θ(y|x) =
Jᵀ(e_y − p), E_{y~p_θ}[g gᵀ] = Jᵀ(diag p − p pᵀ)J. Hence at the optimum
    Tr ∇²L(θ*) = Tr F = E_x E_{y~p_θ(·|x)} ‖∇_θ log p_θ(y|x)‖²,
estimated without bias by sampling y from the model's own predictive distribution:
    t̂ = (1/N) Σₙ (1/S) Σₛ ‖∇_θ log p_θ(yₙₛ | xₙ)‖²,  yₙₛ ~ softmax(logits(xₙ)),
with SE = std over examples / √N (the per-example means are i.i.d. given i.i.d. examples). It is the MEAN over
examples (the trace of the mean loss), not the sum. Away from the optimum Tr F ≠ Tr ∇²L; their agreement is a
diagnostic of being at the optimum.

Cost: one forward and S backward passes per example (g = Jᵀ(e_y − p) via one `jax.vjp` per example); examples are
processed `chunk_size` at a time (vmap inside `lax.map`), so memory is one chunk of per-example gradients.
`logits_fn(params, inputs)` must treat examples independently (no cross-example normalisation). Compilation is
cached on (logits_fn, num_samples, chunk_size) and shapes: pass the same function object on every call.

Fisher operators (products F v, for traces by any method, eigenvalues, diagonals) are in _fisher.py.
"""
import jax
import jax.numpy as jnp
from jax import lax

from flatness_curvature import _estimate as estimate
from flatness_curvature._batches import count_examples
from flatness_curvature._checks import check_callable, check_int, check_key, check_params
from flatness_curvature._filter_jit import filter_jit
from flatness_curvature._random_vectors import apply_mask
from flatness_curvature._tree_linalg import tree_vdot

ORDER = "(logits_fn, params, inputs, key)"


def per_example_sq_grad_norms(logits_fn, params, inputs, key, *, num_samples=1, chunk_size=32, mask=None):
  """[N] array: (1/S) Σₛ ‖∇_θ log p_θ(yₙₛ|xₙ)‖² with yₙₛ ~ p_θ(·|xₙ); the label draw of example n uses fold_in(key, n).

  inputs: a pytree of arrays with a leading example axis N (a single array, or e.g. (tokens, positions)); every
    leaf's leading axis is the example axis (the batch contract of _batches.py).
  """
  n = count_examples(inputs, name="inputs", fix="keep arrays that are not per example out of inputs")

  def one(args):
    i, x = args
    x1 = jax.tree.map(lambda a: a[None], x)
    logits, vjp = jax.vjp(lambda p: logits_fn(p, x1)[0], params)
    probs = jax.nn.softmax(logits.astype(jnp.result_type(float)))
    ys = jax.random.categorical(jax.random.fold_in(key, i), logits, shape=(num_samples,))

    def sq_norm(y):
      (g,) = vjp((jax.nn.one_hot(y, logits.shape[-1], dtype=probs.dtype) - probs).astype(logits.dtype))
      g = apply_mask(g, mask)
      return tree_vdot(g, g)
    return jnp.mean(lax.map(sq_norm, ys))
  return lax.map(one, (jnp.arange(n), inputs), batch_size=chunk_size)


@filter_jit
def _per_example_jit(params, inputs, key, mask, *, logits_fn, num_samples, chunk_size):
  return per_example_sq_grad_norms(logits_fn, params, inputs, key, num_samples=num_samples, chunk_size=chunk_size,
                                   mask=mask)


def fisher_trace(logits_fn, params, inputs, key, *, num_samples=1, chunk_size=32, mask=None):
  """Estimates Tr F = E_x E_{y~p_θ} ‖∇_θ log p_θ(y|x)‖² (= Tr ∇²L at a global optimum; Liu et al. 2023).

  Args:
    logits_fn: (params, inputs) -> logits [B, C]; log p_θ(y|x) = log_softmax(logits)[y].
    params: the parameter pytree (may be sharded).
    inputs: pytree with a leading example axis N.
    key: jax.random key for the label draws.
    num_samples: labels drawn per example (reduces the within-example part of the variance).
    chunk_size: examples per vmapped chunk.
    mask: optional pytree mask: the gradient norm over the masked parameters only (trace of P F P).

  Returns:
    TraceEstimate with value = mean over examples, stderr = std over examples / √N, num_matvecs = N·S (per-example
    gradients), dof = N − 1.
  """
  check_callable(logits_fn, "logits_fn", ORDER)
  check_params(params)
  key = check_key(key)
  num_samples, chunk_size = check_int(num_samples, "num_samples"), check_int(chunk_size, "chunk_size")
  vals = _per_example_jit(params, inputs, key, mask, logits_fn=logits_fn, num_samples=num_samples,
                          chunk_size=chunk_size)
  est = estimate.from_samples(vals)
  return est._replace(num_matvecs=est.num_matvecs * num_samples)
