"""Hashable stand-ins for jit static arguments, so compiled estimators are cached across calls.

The public entry points (trace.py, fisher.py, lanczos.py, slq.py) jit one module-level function whose static
arguments are the user's function (loss_fn, matvec, logits_fn), the settings, and the shapes and shardings of the
parameters, frozen here into hashable tuples: a second call with the same function object and shapes reuses the
compiled program (e.g. a Hessian trace at every checkpoint of a run compiles once).
"""
import jax


def freeze(tree, *, none_is_leaf=False):
  """A hashable form of a pytree of hashable leaves (for jit static arguments); `thaw` inverts it."""
  leaves, treedef = jax.tree.flatten(tree, is_leaf=(lambda x: x is None) if none_is_leaf else None)
  return treedef, tuple(leaves)


class _ById:
  """Wraps an unhashable callable so it can be a jit static argument (cached by identity only)."""

  def __init__(self, fn):
    self.fn = fn

  def __call__(self, *args, **kwargs):
    return self.fn(*args, **kwargs)


def hashable_fn(fn):
  """fn itself when hashable (functions, bound methods of flax modules, ...), else an identity-hashed wrapper."""
  try:
    hash(fn)
    return fn
  except TypeError:
    return _ById(fn)


def thaw(frozen):
  treedef, leaves = frozen
  return jax.tree.unflatten(treedef, leaves)
