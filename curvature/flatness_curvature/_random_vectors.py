"""Random test vectors shaped, typed and sharded like a parameter pytree.

Vector number i is a pure function of (key, i): entry j of the parameters in ravel order (leaf after leaf, row-major
within a leaf) is drawn from the first word of Threefry-2x32 (Salmon et al. 2011) of the block (j, 0) under the key
fold_in(key, i) (`jax.extend.random.threefry2x32_p`, elementwise). So the vectors do not depend on chunking,
batching or sharding, and an estimate on 4 devices uses exactly the vectors of the one-device run. Two layouts, same
values:
  * unsharded: one threefry call over all n counters, then split into leaves (one kernel to compile: XLA's CPU
    compile time grows with every distinctly shaped threefry, ~seconds each);
  * sharded (any leaf of `like` has a multi-device NamedSharding): per leaf, on counters offset + iota(leaf shape),
    constrained to the leaf's sharding, so each device generates only its own shard.

Distributions: Rademacher (±1 from the top bit; the default: among vectors with E[zzᵀ] = I it minimises the variance
of zᵀAz, Hutchinson 1989) and standard Gaussian (√2·erfinv(2u − 1) with a 24-bit uniform u, 2u − 1 computed
exactly so that it never reaches ±1: tails are cut at |z| ≈ 5.3, a relative variance deficit ≈ 1e-6). Entries outside a mask (see _masks.py) are zero. These are
the "probes" of the trace-estimation literature; the library calls them random (test) vectors.

`vector_shardings(like)` reads the NamedShardings of concrete arrays (or ShapeDtypeStructs) in `like`; every leaf of
a vector is constrained to its sharding with `lax.with_sharding_constraint` (a stacked block of vectors gets an
unsharded leading axis), so the vectors never materialise gathered on one device.
"""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.random import threefry2x32_p

DISTRIBUTIONS = ("rademacher", "gaussian")


def vector_shardings(like):
  """Per-leaf NamedSharding of `like` (None where unknown, e.g. for tracers or single-device arrays)."""
  def one(x):
    if isinstance(x, jax.core.Tracer):
      return None
    sharding = getattr(x, "sharding", None)
    if isinstance(sharding, jax.sharding.NamedSharding) and len(sharding.mesh.devices.flat) > 1:
      return sharding
    return None
  return jax.tree.map(one, like)


def shape_struct(like):
  """`like` as ShapeDtypeStructs (so closures over it capture no arrays)."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), like)


def constrain(tree, shardings):
  """Applies the per-leaf shardings (None: leave to the compiler) to a vector pytree."""
  if shardings is None:
    return tree
  return jax.tree.map(lambda s, x: x if s is None else lax.with_sharding_constraint(x, s), shardings, tree,
                      is_leaf=lambda s: s is None)


def constrain_stacked(tree, shardings):
  """Same for a stacked pytree: the leading (vector) axis is replicated."""
  if shardings is None:
    return tree

  def one(s, x):
    if s is None:
      return x
    spec = jax.sharding.PartitionSpec(None, *s.spec)
    return lax.with_sharding_constraint(x, jax.sharding.NamedSharding(s.mesh, spec))
  return jax.tree.map(one, shardings, tree, is_leaf=lambda s: s is None)


def apply_mask(tree, mask):
  """Zeroes the entries outside `mask` (a pytree of bools or boolean arrays matching `tree`; None: keep all)."""
  if mask is None:
    return tree
  return jax.tree.map(lambda x, m: x * jnp.asarray(m, x.dtype), tree, mask)


def _to_distribution(bits, dtype, distribution):
  if distribution == "rademacher":
    return jnp.where(bits >> 31 == 1, 1, -1).astype(dtype)
  # 2u − 1 for u = (k + ½)/2²⁴, k the top 24 bits: the odd integer 2k + 1 − 2²⁴ (|·| < 2²⁴, exact in float32) times
  # 2⁻²⁴, so |2u − 1| < 1 (u itself rounds to 1.0 at k = 2²⁴ − 1, where erfinv is infinite).
  v = ((bits >> 8).astype(jnp.int32) * 2 + (1 - 2 ** 24)).astype(jnp.float32) * (2.0 ** -24)
  return (jnp.sqrt(2.0) * jax.scipy.special.erfinv(v.astype(dtype))).astype(dtype)


def _threefry(keypair, counters):
  """Elementwise Threefry-2x32 of the block (counter, 0) under `keypair` (first output word)."""
  k1, k2 = (jnp.broadcast_to(keypair[j], counters.shape) for j in range(2))
  return threefry2x32_p.bind(k1, k2, counters, jnp.zeros_like(counters))[0]


def _leaf_counters(shape, offset):
  """offset + row-major flat index, as an array of `shape` built from iotas (partitionable elementwise)."""
  idx = jnp.full(shape, offset, jnp.uint32)
  stride = 1
  for d in reversed(range(len(shape))):
    idx = idx + lax.broadcasted_iota(jnp.uint32, shape, d) * jnp.uint32(stride)
    stride *= shape[d]
  return idx


def random_vector(key, i, like, *, distribution="rademacher", mask=None, shardings=None):
  """Probe vector number i (an integer or a traced scalar) shaped like `like`."""
  if distribution not in DISTRIBUTIONS:
    raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
  leaves, treedef = jax.tree.flatten(like)
  sizes = [int(np.prod(x.shape)) for x in leaves]
  if sum(sizes) >= 2 ** 32:
    raise ValueError("random vectors support at most 2**32 - 1 entries")
  keypair = jax.random.key_data(jax.random.fold_in(key, i))
  offsets = np.cumsum([0] + sizes[:-1])
  sharded = shardings is not None and any(s is not None for s in jax.tree.leaves(
      shardings, is_leaf=lambda s: s is None))
  if sharded:
    bits = [_threefry(keypair, _leaf_counters(x.shape, off)) for x, off in zip(leaves, offsets)]
  else:
    flat = _threefry(keypair, jnp.arange(sum(sizes), dtype=jnp.uint32))
    bits = [flat[off:off + n].reshape(x.shape) for x, off, n in zip(leaves, offsets, sizes)]
  out = [_to_distribution(b, x.dtype, distribution) for b, x in zip(bits, leaves)]
  return constrain(apply_mask(jax.tree.unflatten(treedef, out), mask), shardings)


def random_vectors(key, start, num, like, **kwargs):
  """Probes number start .. start+num-1 as a stacked pytree (leading axis num)."""
  stack = jax.vmap(lambda i: random_vector(key, i, like, **kwargs))(start + jnp.arange(num))
  return constrain_stacked(stack, kwargs.get("shardings"))
