"""Adapters from the model libraries' conventions to the library's (loss_fn(params, batch), params).

Every estimator differentiates with respect to ALL floating-point leaves of `params`, so model state must not be in
it. Each adapter splits a model into trainable parameters and the rest, and returns (loss_fn, params) with the rest
closed over as a `jax.tree_util.Partial` argument: its arrays stay traced arguments of the compiled estimators, so a
new checkpoint, new BatchNorm statistics or a new RNG state reuse the compiled program (_filter_jit.py) as long as
the same `loss` function object is passed.

  * flax.linen: `variables = {"params": ..., "batch_stats": ...}` and loss(variables, batch);
    linen_loss(loss, variables) -> (loss_fn, variables["params"]).
  * flax.nnx: a Module and loss(model, batch); nnx_loss(loss, model) -> (loss_fn, nnx.State of the nnx.Param
    variables), the graph definition static and the other variables (BatchStat, RNG state) closed over.
  * equinox: a Module and loss(model, batch); equinox_loss(loss, model) -> (loss_fn, the floating-point array
    leaves: eqx.partition(model, eqx.is_inexact_array)), the rest closed over.

The flax and equinox imports happen inside the adapters: the library itself depends on jax and numpy only.
"""
import jax


def _linen_apply(loss, rest, collection, params, batch):
  return loss({**rest, collection: params}, batch)


def linen_loss(loss, variables, *, trainable="params"):
  """(loss_fn, params) for loss(variables, batch) of a flax.linen model: params = variables[trainable], the other
  collections (batch_stats, ...) closed over. Returns loss_fn(params, batch)."""
  if not callable(loss):
    raise TypeError(f"loss must be a function loss(variables, batch), got {type(loss).__name__}")
  if not hasattr(variables, "keys") or trainable not in variables:
    raise ValueError(f"variables must be a flax.linen variables dict with a {trainable!r} collection")
  rest = {k: v for k, v in variables.items() if k != trainable}
  return jax.tree_util.Partial(_linen_apply, loss, rest, trainable), variables[trainable]


def _nnx_apply(loss, graphdef, rest, params, batch):
  from flax import nnx  # pylint: disable=g-import-not-at-top
  return loss(nnx.merge(graphdef, params, rest), batch)


def nnx_loss(loss, model, *, trainable=None):
  """(loss_fn, params) for loss(model, batch) of a flax.nnx Module: params = the nnx.Param variables (or the
  filter `trainable`), everything else (BatchStat, RNG state, ...) closed over. Returns loss_fn(params, batch)."""
  from flax import nnx  # pylint: disable=g-import-not-at-top
  if not isinstance(model, nnx.Module):
    raise TypeError(f"model must be a flax.nnx Module, got {type(model).__name__}")
  graphdef, params, rest = nnx.split(model, nnx.Param if trainable is None else trainable, ...)
  return jax.tree_util.Partial(_nnx_apply, loss, graphdef, rest), params


def _equinox_apply(loss, rest, params, batch):
  import equinox as eqx  # pylint: disable=g-import-not-at-top
  return loss(eqx.combine(params, rest), batch)


def equinox_loss(loss, model, *, trainable=None):
  """(loss_fn, params) for loss(model, batch) of an equinox Module: params = its floating-point array leaves (or
  the filter `trainable`), the rest closed over. Returns loss_fn(params, batch)."""
  import equinox as eqx  # pylint: disable=g-import-not-at-top
  if not isinstance(model, eqx.Module):
    raise TypeError(f"model must be an equinox Module, got {type(model).__name__}")
  params, rest = eqx.partition(model, eqx.is_inexact_array if trainable is None else trainable)
  return jax.tree_util.Partial(_equinox_apply, loss, rest), params
