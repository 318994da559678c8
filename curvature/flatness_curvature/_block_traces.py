"""Traces of many diagonal blocks of one operator in one call: a per-layer (per-block) breakdown of tr A.

For a block b (a set of parameters, its projection P_b) tr(P_b A P_b) = Σ_{j∈b} A_jj = tr(P_b A), and for random
vectors z with E[zzᵀ] = I, E[⟨P_b z, A z⟩] = tr(P_b A). So ONE product A z per random vector serves every block:
    t̂_b = (1/m) Σᵢ ⟨P_b zᵢ, A zᵢ⟩,    SE_b = std_i⟨P_b zᵢ, A zᵢ⟩ / √m,
which is Hutchinson's diagonal estimator (Bekas, Kokiopoulou & Saad 2007) summed over the block. Its variance, for
Rademacher z, is Σ_{j∈b} Σ_{k≠j} A_jk²: it includes the coupling of the block to all other parameters, so it is
larger than that of Hutchinson on P_b A P_b alone (Σ_{j,k∈b, j≠k} A_jk², at one product per block instead of one for
all). For disjoint blocks covering all parameters the block samples add up to the Hutchinson samples of tr A.

Blocks are a dict name → a regex (matched with `re.search` on the leaf paths "a/b/c", see _masks.py) or a mask
pytree. Every block gets a TraceEstimate; products are linear in A, so they run one batch at a time
(`Operator.apply`).
"""
import jax
import jax.numpy as jnp

from flatness_curvature import _estimate as estimate
from flatness_curvature._blocks import chunked_map
from flatness_curvature._checks import check_int
from flatness_curvature._filter_jit import filter_jit
from flatness_curvature._masks import mask_by_regex
from flatness_curvature._operator import prepare
from flatness_curvature._random_vectors import DISTRIBUTIONS, apply_mask, random_vector
from flatness_curvature._tree_linalg import tree_vdot


@filter_jit
def _samples(op, key, like, shardings, masks, *, num_matvecs, chunk_size, distribution):
  def one(mv, i):
    z = random_vector(key, i, like, distribution=distribution, shardings=shardings)
    az = mv(z)
    return jnp.stack([tree_vdot(apply_mask(z, m), az) for m in masks])
  return op.apply(lambda mv: chunked_map(lambda i: one(mv, i), jnp.arange(num_matvecs), chunk_size))


def block_traces(matvec, like, blocks, key, *, num_matvecs, chunk_size=1, distribution="rademacher"):
  """{name: TraceEstimate of tr(P_b A P_b)} for every block, from num_matvecs products in all.

  Args:
    matvec: v ↦ A v, or an Operator (hessian_matvec, ...).
    like: pytree of floating-point arrays shaped like the vectors (the parameters).
    blocks: dict name → regex on leaf paths, or name → mask pytree (bools / boolean arrays).
    key: a jax.random key.
    num_matvecs: random vectors (one product each), at least 2.
    chunk_size: vectors vmapped together through the matvec.
    distribution: "rademacher" (default) or "gaussian".
  """
  if not isinstance(blocks, dict) or not blocks:
    raise TypeError(f"blocks must be a non-empty dict name → regex or mask, got {type(blocks).__name__}")
  num_matvecs = check_int(num_matvecs, "num_matvecs", 2, " (an error bar needs two samples)")
  if distribution not in DISTRIBUTIONS:
    raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
  op, work, shardings, key = prepare(matvec, like, key)
  masks = [mask_by_regex(like, include=b) if isinstance(b, str) else b for b in blocks.values()]
  for name, m in zip(blocks, masks):
    if jax.tree.structure(m) != jax.tree.structure(like):
      raise ValueError(f"blocks[{name!r}]: a mask must have the structure of the parameters")
  samples = _samples(op, key, work, shardings, masks, num_matvecs=num_matvecs, chunk_size=chunk_size,
                     distribution=distribution)
  return {name: estimate.from_samples(samples[:, b]) for b, name in enumerate(blocks)}
