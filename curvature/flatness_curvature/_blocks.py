"""Applying an operator to many vectors, `chunk_size` at a time.

An Operator (_operator.py) evaluates op.apply(f) = Σ_b w_b f(matvec_b) for f linear in the matvec. The helpers below
are such f's: they push vectors through the matvec with `lax.map(..., batch_size=chunk_size)` — `chunk_size` vectors
are vmapped together and the chunks run sequentially — so peak memory is bounded by one chunk of intermediate
activations, never by the number of random vectors. chunk_size=1 (the default of the estimators) runs the vectors
one after another, the least memory (≈ 2.3× a gradient's for the HVP of benchmarks/bench_curvature.py); larger
chunks trade memory (≈ 6× at 4, 22× at 16) for vectorisation, which paid off nothing measurable on 2 CPU cores but
can on accelerators with small models.
"""
import jax.numpy as jnp
from jax import lax

from flatness_curvature._random_vectors import constrain_stacked
from flatness_curvature._tree_linalg import tree_vdot


def chunked_map(f, xs, chunk_size):
  """lax.map over the leading axis, `chunk_size` elements vmapped at a time (a plain scan for chunk_size=1)."""
  return lax.map(f, xs, batch_size=chunk_size if chunk_size > 1 else None)


def apply_block(op, vectors, *, chunk_size, shardings=None):
  """A V for a stacked pytree V (returns a stacked pytree)."""
  out = op.apply(lambda mv: chunked_map(mv, vectors, chunk_size))
  return constrain_stacked(out, shardings)


def quadratic_forms(matvec, make_vector, indices, *, chunk_size):
  """[vᵢᵀ A vᵢ for i in indices] with vᵢ = make_vector(i) built on the fly (nothing of size m × params is stored).

  Takes a matvec (use it inside op.apply); with several quadratic-form sets, evaluate them in one apply so that a
  multi-batch operator linearizes each batch once.
  """
  def one(i):
    v = make_vector(i)
    return tree_vdot(v, matvec(v))
  return chunked_map(one, jnp.asarray(indices), chunk_size)


def stacked_quadratic_forms(matvec, vectors, *, chunk_size):
  """[vᵢᵀ A vᵢ] for the vectors of a stacked pytree."""
  return chunked_map(lambda v: tree_vdot(v, matvec(v)), vectors, chunk_size)
