"""Working precision: vectors and sums in at least float32 whatever the parameters' dtype.

Parameters in bfloat16 or float16 keep their dtype in the operator (the loss and its derivatives run as the model
does), but every vector an estimator keeps (random vectors, Lanczos bases, CG iterates) and every inner product is in
float32: `working_like` gives the float32 shapes, and `cast_matvec` wraps v ↦ A v so that v is rounded to the
parameters' dtype on the way in and the product widened on the way out. Rademacher vectors (±1) are exact in any
dtype; Gaussian ones are rounded once to the parameters' precision, as the product sees them. Without this a bf16
inner product of n terms carries relative error ~ 2⁻⁸·√n, and eigh/QR do not exist in bf16 at all.
"""
import jax
import jax.numpy as jnp


def working_dtype(dtype):
  """float32 for floating dtypes narrower than 32 bits, else the dtype itself."""
  dtype = jnp.dtype(dtype)
  if jnp.issubdtype(dtype, jnp.floating) and dtype.itemsize < 4:
    return jnp.dtype(jnp.float32)
  return dtype


def working_like(like):
  """ShapeDtypeStructs of `like` in working precision."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, working_dtype(x.dtype)), like)


def is_narrow(like) -> bool:
  return any(working_dtype(x.dtype) != jnp.dtype(x.dtype) for x in jax.tree.leaves(like))


def cast_tree(tree, like):
  """Each leaf of `tree` cast to the dtype of the matching leaf of `like`."""
  return jax.tree.map(lambda x, l: x.astype(l.dtype), tree, like)


def cast_matvec(matvec, like):
  """v ↦ A v with v rounded to `like`'s dtypes before and the product widened to working precision after."""
  if not is_narrow(like):
    return matvec
  structs = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), like)
  work = working_like(structs)
  return lambda v: cast_tree(matvec(cast_tree(v, structs)), work)
