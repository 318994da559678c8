"""The mean loss over all examples of several batches, L(θ) = Σ_b (n_b/N) loss_fn(θ, b), evaluated at any θ.

The sharpness measures compare L at perturbed parameters with L at θ; the batches are weighted by their example
counts as everywhere else (_batches.py), and a list of same-shaped batches is summed by a `lax.scan`, one batch's
activations alive at a time (the machinery of Operator.apply, with the batch losses in place of linear maps).
"""
from flatness_curvature._checks import check_loss
from flatness_curvature._hessian import check_loss_inputs, value_only
from flatness_curvature._operator import batched_operator


def _loss_of_batch(fns, params, batch, index, extra):
  del params, index, extra
  return lambda theta: fns[0](theta, batch)


def batch_loss(loss_fn, params, batches, *, has_aux=False, num_examples=None):
  """The weighted batch losses as an Operator-like sum; evaluate L(θ) with `evaluate(losses, θ)`."""
  check_loss_inputs(loss_fn, params, batches)
  losses = batched_operator(_loss_of_batch, (value_only(loss_fn, has_aux),), params, batches,
                            num_examples=num_examples, vectors=False)
  check_loss(loss_fn, params, losses.batches[0], has_aux=has_aux)
  return losses


def evaluate(losses, theta):
  """L(θ) = Σ_b w_b loss_fn(θ, b)."""
  return losses.apply(lambda loss_b: loss_b(theta))
