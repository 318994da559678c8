"""`filter_jit`: `jax.jit` in which every array of the arguments is traced and everything else is static.

The public entry points take user functions (loss_fn, matvec, logits_fn), settings (ints, floats, strings) and pytrees
of arrays, and these mix: a loss that an adapter closed over model state is a `jax.tree_util.Partial` whose arguments
are arrays, and an operator (see _operator.py) holds both the loss and the parameters. `filter_jit(fn)` flattens all
arguments; array leaves (jax and numpy arrays, tracers, PRNG keys) become the traced arguments of one `jax.jit`, and
the tree structure with every other leaf (functions, numbers, strings, ShapeDtypeStructs, shardings) is its static
key (`partition` / `combine`, also used by Operator to be a pytree of its arrays only). A second call with the same
functions and settings and arrays of the same shapes therefore reuses the compiled program: at every checkpoint of a
run, or with fresh model state closed over by the same loss. Static leaves that cannot be hashed (a closure over a
list, say) are keyed by identity. The idea is equinox's `filter_jit`.
"""
import functools

import jax
import numpy as np


def is_array(x) -> bool:
  """Leaves that are traced: jax arrays (and tracers, PRNG keys), numpy arrays and numpy scalars."""
  return isinstance(x, (jax.Array, np.ndarray, np.generic))


class _ById:
  """An unhashable static leaf, keyed by identity."""

  def __init__(self, obj):
    self.obj = obj

  def __hash__(self):
    return id(self.obj)

  def __eq__(self, other):
    return isinstance(other, _ById) and other.obj is self.obj


def _static_leaf(x):
  try:
    hash(x)
    return x
  except TypeError:
    return _ById(x)


class _Static:
  """Hashable description of the non-array part of the arguments."""

  def __init__(self, treedef, leaves):
    self.treedef, self.leaves = treedef, leaves
    self._hash = hash((treedef, leaves))

  def __hash__(self):
    return self._hash

  def __eq__(self, other):
    return isinstance(other, _Static) and (self.treedef, self.leaves) == (other.treedef, other.leaves)


def partition(tree):
  """(arrays, static): the array leaves of `tree` (None elsewhere) and a hashable description of the rest."""
  leaves, treedef = jax.tree.flatten(tree)
  arrays = [x if is_array(x) else None for x in leaves]
  return arrays, _Static(treedef, tuple(None if is_array(x) else _static_leaf(x) for x in leaves))


def combine(arrays, static):
  """Inverse of `partition`."""
  leaves = [a if s is None else (s.obj if isinstance(s, _ById) else s) for a, s in zip(arrays, static.leaves)]
  return jax.tree.unflatten(static.treedef, leaves)


def filter_jit(fn):
  """`fn` compiled once per static description of its arguments (see the module docstring)."""

  @functools.partial(jax.jit, static_argnames="static")
  def compiled(arrays, static):
    args, kwargs = combine(arrays, static)
    return fn(*args, **kwargs)

  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    arrays, static = partition((args, kwargs))
    return compiled(arrays, static)

  wrapper.compiled = compiled
  return wrapper
