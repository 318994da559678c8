"""Input checks run before any expensive work: each wrong input is one sentence naming the argument.

  * keys: a `jax.random.key(...)` (typed) or a legacy `jax.random.PRNGKey(...)` (uint32[2], wrapped here); an
    integer seed, an array of keys or anything else is refused;
  * parameters: a pytree of floating-point arrays. Integer or boolean leaves, non-array leaves, a flax.nnx Module,
    flax.linen `variables` with state collections (`batch_stats`, ...) and nnx state variables (`BatchStat`, RNG
    state) are refused with the adapter that splits them (see _adapters.py); otherwise the Hessian would silently be
    taken with respect to running statistics too;
  * losses: `loss_fn(params, batch)` must return a floating-point scalar, or `(scalar, aux)` with `has_aux=True`;
    checked with `jax.eval_shape` (no computation);
  * argument order: a key where the batches belong, or params where the loss belongs, is named as such.
"""
import sys

import jax
import jax.numpy as jnp
import numpy as np

from flatness_curvature._filter_jit import is_array
from flatness_curvature._masks import path_string

_STATE_COLLECTIONS = ("batch_stats", "cache", "intermediates")


def describe(x) -> str:
  """A few words for an unexpected value: its type, and shape/dtype for arrays."""
  if hasattr(x, "shape") and hasattr(x, "dtype"):
    return f"a {type(x).__name__} of shape {tuple(x.shape)} and dtype {x.dtype}"
  if isinstance(x, (tuple, list, dict)):
    return f"a {type(x).__name__} of {len(x)} elements"
  return f"a {type(x).__module__}.{type(x).__qualname__}" if type(x).__module__ != "builtins" else \
      f"the {type(x).__name__} {x!r}"[:120]


def is_key(x) -> bool:
  return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def check_key(key, name="key"):
  """A typed PRNG key (legacy uint32[2] keys are wrapped); TypeError/ValueError otherwise."""
  if isinstance(key, (bool, int, np.integer)):
    raise TypeError(f"{name} must be a jax.random key, e.g. jax.random.key({int(key)}), not the integer {key}")
  if is_key(key):
    if key.shape != ():
      raise ValueError(f"{name} must be a single jax.random key, got an array of keys of shape {key.shape}")
    return key
  if is_array(key) and key.dtype == np.uint32 and key.shape == (2,):
    return jax.random.wrap_key_data(key)
  if is_array(key) and jnp.issubdtype(key.dtype, jnp.integer) and key.shape == ():
    raise TypeError(f"{name} must be a jax.random key, e.g. jax.random.key(seed), not an integer array")
  raise TypeError(f"{name} must be a jax.random key (jax.random.key(seed)), got {describe(key)}")


def check_int(value, name, minimum=1, why=""):
  """int(value); ValueError unless it is an integer ≥ minimum (`why`: a parenthesis saying why the minimum)."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise ValueError(f"{name} must be an integer >= {minimum}{why}, got {value!r}")
  return int(value)


def check_callable(fn, name, order):
  if not callable(fn):
    raise TypeError(f"{name} must be a function, got {describe(fn)} (the arguments are {order})")


def check_not_key(value, name, order):
  """Refuses a PRNG key passed where `name` belongs (swapped arguments)."""
  if is_key(value):
    raise TypeError(f"{name} is a jax.random key: the arguments seem swapped (the order is {order})")


def _module_type(name, attr):
  module = sys.modules.get(name)
  return getattr(module, attr, None) if module is not None else None


def check_params(params, name="params", *, structs_ok=False):
  """Refuses what is not a pytree of floating-point arrays (see the module docstring)."""
  nnx_module, nnx_variable, nnx_param = (_module_type("flax.nnx", a) for a in ("Module", "Variable", "Param"))
  if nnx_module is not None and isinstance(params, nnx_module):
    raise TypeError(f"{name} is a flax.nnx Module: split its Params from its state with "
                    f"flatness_curvature.nnx_loss(loss, model), which returns (loss_fn, params)")
  if callable(params) and not hasattr(params, "shape") and not _is_pytree_node(params):
    raise TypeError(f"{name} is a function: the arguments seem swapped (the parameters are a pytree of arrays)")
  if isinstance(params, dict) and "params" in params:
    state = sorted(k for k in params if k in _STATE_COLLECTIONS)
    if state:
      raise ValueError(f"{name} looks like flax.linen variables with the state collection(s) {state} besides "
                       f"'params': curvature would be taken with respect to them too; pass variables['params'] with "
                       f"the state closed over: flatness_curvature.linen_loss(loss, variables) does it")
  if nnx_variable is not None:
    for path, var in jax.tree_util.tree_flatten_with_path(params, is_leaf=lambda x: isinstance(x, nnx_variable))[0]:
      if isinstance(var, nnx_variable) and not isinstance(var, nnx_param):
        raise ValueError(f"{name}: leaf '{path_string(path)}' is an nnx {type(var).__name__} (model state, not a "
                         f"parameter); split the Params from the rest with flatness_curvature.nnx_loss(loss, model)")
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  if not leaves:
    raise ValueError(f"{name} holds no arrays")
  eqx_module = _module_type("equinox", "Module")
  hint = (" (an equinox Module? split it with flatness_curvature.equinox_loss(loss, model))"
          if eqx_module is not None and isinstance(params, eqx_module) else "")
  for path, leaf in leaves:
    where = f"{name}: leaf '{path_string(path)}'"
    if not (is_array(leaf) or (structs_ok and isinstance(leaf, jax.ShapeDtypeStruct))):
      raise TypeError(f"{where} is {describe(leaf)}, not an array{hint}")
    if not jnp.issubdtype(leaf.dtype, jnp.floating):
      raise TypeError(f"{where} has dtype {leaf.dtype}: curvature is taken with respect to real floating-point "
                      f"parameters only; keep it out of {name} (close over it in the loss){hint}")


def _is_pytree_node(x):
  return not jax.tree_util.treedef_is_leaf(jax.tree.structure(x))


def check_loss(loss_fn, params, batch, *, has_aux, name="loss_fn"):
  """`loss_fn(params, batch)` returns a floating scalar (or (scalar, aux) with has_aux), checked abstractly."""
  out = jax.eval_shape(loss_fn, params, batch)
  if has_aux:
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
      raise TypeError(f"{name} was given has_aux=True but does not return a pair (loss, aux): it returns "
                      f"{jax.tree.structure(out)}")
    out = out[0]
  elif isinstance(out, (tuple, list)):
    raise TypeError(f"{name} returns a {type(out).__name__} of {len(out)}; if it returns (loss, aux), pass "
                    f"has_aux=True")
  if not isinstance(out, jax.ShapeDtypeStruct) or out.shape != () or not jnp.issubdtype(out.dtype, jnp.floating):
    raise TypeError(f"{name} must return a floating-point scalar (the mean loss over the batch), got "
                    f"{describe(out)}")
