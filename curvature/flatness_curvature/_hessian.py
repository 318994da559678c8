"""Hessian-vector products of a loss over a params pytree, and the Hessian as a batch-averaged operator.

For L(θ) = loss_fn(θ, batch) (a scalar), H v = ∂/∂ε ∇L(θ + ε v)|₀ is computed forward-over-reverse, `jax.jvp` of
`jax.grad` (Pearlmutter 1994; the cheapest mode for a Hessian-vector product in JAX, ≈ 2–3 gradients).

Many products at the same (θ, batch): `jax.linearize(∇L, θ)` runs the gradient once and returns the linear map
v ↦ H v with the forward/backward residuals stored, so each further product costs only the tangent half (measured on
a small transformer: see benchmarks/bench_curvature.py).

A loss averaged over all examples of several batches, L = Σ_b (n_b/N) L_b with L_b the mean loss of batch b
(n_b examples, N = Σ_b n_b), has the Hessian H = Σ_b (n_b/N) ∇² L_b: a short last batch counts for its examples
only (the batch contract and the weights: _batches.py). `hessian_matvec` returns H as an Operator (_operator.py),
which estimators apply with one linearization per batch and pass over the data.

`has_aux=True` takes a loss returning (loss, aux) (e.g. flax.linen BatchNorm in training mode returning updated
statistics); aux is ignored.
"""
import jax

from flatness_curvature._checks import check_callable, check_loss, check_not_key, check_params
from flatness_curvature._filter_jit import filter_jit
from flatness_curvature._operator import batched_operator

ORDER = "(loss_fn, params, batches, ...)"


def _first(loss_fn, params, batch):
  return loss_fn(params, batch)[0]


def value_only(loss_fn, has_aux):
  """The loss without its aux output (a pytree-callable, so compiled programs are shared across calls)."""
  return jax.tree_util.Partial(_first, loss_fn) if has_aux else loss_fn


@filter_jit
def _grad(loss_fn, params, batch):
  """∇loss, compiled once per loss and shapes, so an eager linearization runs as compiled programs (inside an
  estimator's jit it is inlined)."""
  return jax.grad(loss_fn)(params, batch)


def hvp(loss_fn, params, batch, v, *, has_aux=False):
  """H v for H = ∇²_θ loss_fn(θ, batch) at θ = params (forward-over-reverse)."""
  loss = value_only(loss_fn, has_aux)
  return jax.jvp(lambda p: jax.grad(loss)(p, batch), (params,), (v,))[1]


def linearized_hvp(loss_fn, params, batch, *, has_aux=False):
  """The linear map v ↦ H v, with the gradient's residuals computed once (`jax.linearize`)."""
  loss = value_only(loss_fn, has_aux)
  return jax.linearize(lambda p: _grad(loss, p, batch), params)[1]


def _linearize(fns, params, batch, index, extra):
  del index, extra
  return linearized_hvp(fns[0], params, batch)


def check_loss_inputs(loss_fn, params, batches):
  """The shared checks of every entry point taking (loss_fn, params, batches): order, params, loss output."""
  check_callable(loss_fn, "loss_fn", ORDER)
  check_not_key(batches, "batches", ORDER + " with the key after the batches")
  check_params(params)


def hessian_matvec(loss_fn, params, batches, *, mask=None, has_aux=False, num_examples=None):
  """The Hessian H = Σ_b (n_b/N) ∇²_θ loss_fn(θ, b) at θ = params, as an Operator: `op(v)` is H v.

  Args:
    loss_fn: (params, batch) -> scalar mean loss over the batch (or (loss, aux) with has_aux=True).
    params: pytree of floating-point arrays (not model state: see _checks.py and the adapters).
    batches: one batch, a list of batches, or an iterable of batches (_batches.py).
    mask: optional pytree of bools: the operator P H P on the masked parameters.
    has_aux: loss_fn returns (loss, aux).
    num_examples: examples per batch, when the batches cannot say it themselves (_batches.py).
  """
  check_loss_inputs(loss_fn, params, batches)
  op = batched_operator(_linearize, (value_only(loss_fn, has_aux),), params, batches, mask=mask,
                        num_examples=num_examples)
  check_loss(loss_fn, params, op.batches[0], has_aux=has_aux)
  return op


hessian_operator = hessian_matvec
