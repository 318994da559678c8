"""Linear algebra on pytrees and on *stacked* pytrees, leaf by leaf.

A vector is any pytree of arrays (e.g. a flax params dict). A block of k vectors is a *stacked* pytree: the same
structure with a leading axis of size k on every leaf. Every operation here works leaf-wise and reduces across leaves
with sums of small (k×k) matrices, so leaves keep their shapes and shardings: nothing is flattened into one long
vector (matfree / curvlinops flatten; for sharded parameters that gathers everything onto one device).

Orthonormalisation is classical Gram–Schmidt with one full re-orthogonalisation pass ("CGS2": Giraud, Langou,
Rozložník, Numer. Math. 2005 show twice is enough for orthogonality to working precision). Columns that are linearly
dependent to working precision get a zero column in Q and a zero diagonal in R.
"""
import jax
import jax.numpy as jnp
from jax import lax

from flatness_curvature._precision import working_dtype


def tree_vdot(a, b):
  """⟨a, b⟩ = Σ_leaves Σ_entries a·b (real pytrees), accumulated in at least float32."""
  parts = jax.tree.leaves(jax.tree.map(
      lambda x, y: jnp.vdot(x, y, preferred_element_type=working_dtype(jnp.result_type(x, y))), a, b))
  return sum(parts[1:], parts[0])


def tree_norm(a):
  return jnp.sqrt(tree_vdot(a, a))


def tree_add(a, b):
  return jax.tree.map(jnp.add, a, b)


def tree_sub(a, b):
  return jax.tree.map(jnp.subtract, a, b)


def tree_scale(a, s):
  return jax.tree.map(lambda x: (x * s).astype(x.dtype), a)


def tree_size(a):
  """Total number of entries of a pytree."""
  return sum(int(x.size) for x in jax.tree.leaves(a))


def stacked_index(stack, i):
  """Vector number i of a stacked pytree."""
  return jax.tree.map(lambda x: x[i], stack)


def stacked_set(stack, i, v):
  """Returns the stacked pytree with vector number i replaced by v."""
  return jax.tree.map(lambda x, y: x.at[i].set(y.astype(x.dtype)), stack, v)


def stacked_gram(a, b):
  """G[i, j] = ⟨a_i, b_j⟩ for stacked pytrees a (k vectors) and b (l vectors): a k×l matrix."""
  parts = jax.tree.leaves(jax.tree.map(
      lambda x, y: jnp.tensordot(x, y, axes=(tuple(range(1, x.ndim)),) * 2), a, b))
  return sum(parts[1:], parts[0])


def stacked_dot_vector(a, v):
  """c[i] = ⟨a_i, v⟩ for a stacked pytree a and one vector v."""
  parts = jax.tree.leaves(jax.tree.map(lambda x, y: jnp.tensordot(x, y, axes=y.ndim), a, v))
  return sum(parts[1:], parts[0])


def stacked_rowwise_dot(a, b):
  """d[i] = ⟨a_i, b_i⟩ for stacked pytrees with the same number of vectors."""
  parts = jax.tree.leaves(jax.tree.map(
      lambda x, y: jnp.sum((x * y).reshape(x.shape[0], -1), axis=1), a, b))
  return sum(parts[1:], parts[0])


def stacked_combine(a, c):
  """Σ_i c[i] a_i: a vector (c of shape [k]) or, for c of shape [k, l], a stack of l vectors (a @ c)."""
  if c.ndim == 1:
    return jax.tree.map(lambda x: jnp.tensordot(c.astype(x.dtype), x, axes=1), a)
  return jax.tree.map(lambda x: jnp.tensordot(c.T.astype(x.dtype), x, axes=1), a)


def orthonormalize(y, *, rtol=None):
  """Thin QR of a stacked pytree: y_j = Σ_i R[i, j] q_i with orthonormal q (CGS2, column by column).

  Args:
    y: stacked pytree of k vectors.
    rtol: a column whose norm after orthogonalisation falls below rtol × its original norm is treated as dependent:
      its q is zero and R[j, j] = 0. Default: 50 × machine epsilon of the leaves' dtype.

  Returns:
    (q, r): q stacked like y (orthonormal or zero vectors), r a k×k upper-triangular matrix.
  """
  leaves = jax.tree.leaves(y)
  k = leaves[0].shape[0]
  dtype = jnp.result_type(*leaves)
  if rtol is None:
    rtol = 50 * jnp.finfo(dtype).eps
  q0 = jax.tree.map(jnp.zeros_like, y)

  def body(j, carry):
    q, r = carry
    v = stacked_index(y, j)
    norm0 = tree_norm(v)
    coeffs = jnp.zeros((k,), dtype)
    for _ in range(2):  # Rows of q at and after j are still zero, so this projects on q_0..q_{j-1} only.
      c = stacked_dot_vector(q, v)
      v = tree_sub(v, stacked_combine(q, c))
      coeffs = coeffs + c
    nv = tree_norm(v)
    ok = nv > rtol * norm0
    v = tree_scale(v, jnp.where(ok, 1.0 / jnp.where(ok, nv, 1.0), 0.0))
    r = r.at[:, j].set(coeffs.at[j].set(jnp.where(ok, nv, 0.0)))
    return stacked_set(q, j, v), r

  return lax.fori_loop(0, k, body, (q0, jnp.zeros((k, k), dtype)))
