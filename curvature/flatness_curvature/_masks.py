"""Parameter subsets: pytree masks and the restricted operator P A P.

A mask is a pytree matching the parameters whose leaves are Python bools or boolean arrays (broadcastable to the
leaf). P is the diagonal 0/1 projection onto the masked entries. For a symmetric A (e.g. the Hessian), P A P
restricted to range(P) is the Hessian with respect to the masked parameters only, the others held fixed; its trace
is Σ_{i ∈ mask} A_ii. Estimators given `mask=` draw random vectors that vanish outside the mask and apply
`masked_matvec`, so Lanczos / SLQ see an operator of dimension |mask| (no spurious zero eigenvalues from the
unmasked part).

Leaf paths are written "a/b/c" from the dict keys / attribute names / sequence indices leading to the leaf, e.g.
"params/Dense_0/kernel" for a flax.linen variables dict; `mask_by_regex` selects leaves by `re.search` on them.
"""
import re

import jax
import jax.numpy as jnp

from flatness_curvature._random_vectors import apply_mask


def _key_name(k):
  for attr in ("key", "name", "idx"):
    if hasattr(k, attr):
      return str(getattr(k, attr))
  return str(k)


def path_string(path) -> str:
  """A key path as "a/b/c"."""
  return "/".join(_key_name(k) for k in path)


def leaf_paths(tree):
  """The pytree with every leaf replaced by its path string ("params/Dense_0/kernel")."""
  return jax.tree_util.tree_map_with_path(lambda path, _: path_string(path), tree)


def mask_by_regex(tree, include=None, exclude=None):
  """Boolean mask: leaves whose path matches `include` (default: all) and does not match `exclude`.

  Example: `mask_by_regex(params, exclude=r"bias|embed")` drops biases and embeddings.
  """
  def keep(path):
    ok = include is None or re.search(include, path) is not None
    return ok and (exclude is None or re.search(exclude, path) is None)
  return jax.tree.map(keep, leaf_paths(tree))


def mask_size(like, mask):
  """Number of entries of `like` inside `mask` (the dimension of the restricted operator)."""
  if mask is None:
    return sum(int(x.size) for x in jax.tree.leaves(like))
  return sum(int(jnp.sum(jnp.broadcast_to(jnp.asarray(m), x.shape))) for x, m in
             zip(jax.tree.leaves(like), jax.tree.leaves(mask)))


def masked_matvec(matvec, mask):
  """v ↦ P A P v: the operator restricted to the masked entries (identity wrapper when mask is None)."""
  if mask is None:
    return matvec
  return lambda v: apply_mask(matvec(apply_mask(v, mask)), mask)
