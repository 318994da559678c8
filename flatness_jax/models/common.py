"""Pieces shared by the MLM models: token conventions, named initializers, the masked-position head.

Token conventions live in flatness_jax.data.vocab: words are ids 0..V-1, PAD = V (after a sentence's length),
MASK = V+1, so embedding tables have V+2 rows while the MLM head predicts only the V real words.

Sharding: every parameter is created through `named_init`, i.e. `nn.with_logical_partitioning`, so `init`
returns `nn.LogicallyPartitioned` boxes carrying logical axis names; the sharding table (logical name ->
mesh axis) lives in flatness_jax/parallel. Names used by the models:
  'vocab'  rows of the embedding table / columns of an untied output projection (V+2 or V),
  'embed'  the residual width d_model (and LSTM inputs),
  'mlp'    FFN hidden units, the MLM head's hidden units and LSTM hidden units,
  'heads'  attention heads,   'kv'  per-head query/key/value width,
  'layers' the stacked-layer axis when layers are scanned (BertMLM(scan_layers=True)),
  None     replicated (the position table's length axis, recurrent kernels' input axis).
"""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

INIT_STD = 0.02  # BERT's initializer_range: N(0, 0.02^2) for every matrix, zeros for biases.


def named_init(init, names):
  """`init` wrapped so that the parameter carries logical axis `names` (one per array axis)."""
  return nn.with_logical_partitioning(init, names)


def normal_init(names, std=INIT_STD):
  return named_init(nn.initializers.normal(std), names)


def zeros_init(names):
  return named_init(nn.initializers.zeros_init(), names)


def layer_norm(name, dtype, param_dtype, axis_name="embed", epsilon=1e-6):
  """LayerNorm y = (x - mean) / sqrt(var + eps) * scale + bias over the last axis, params named (axis_name,)."""
  return nn.LayerNorm(epsilon=epsilon, dtype=dtype, param_dtype=param_dtype, name=name,
                      scale_init=named_init(nn.initializers.ones_init(), (axis_name,)),
                      bias_init=zeros_init((axis_name,)))


def gelu(x):
  """Exact (erf) GELU, as in BERT and torch.nn.GELU()."""
  return nn.gelu(x, approximate=False)


def gather_positions(hidden, positions):
  """hidden [B, L, d] at `positions` ([B] -> [B, d]; [B, K] -> [B, K, d]), a per-row gather."""
  squeeze = positions.ndim == 1
  idx = positions[:, None] if squeeze else positions
  out = jnp.take_along_axis(hidden, idx[..., None].astype(jnp.int32), axis=1)
  return out[:, 0] if squeeze else out


def output_dtype(x):
  """Logits are returned in at least float32 (bfloat16 compute gives float32 logits; float64 stays)."""
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


class MLMHead(nn.Module):
  """BERT's MLM head on already-gathered states h [..., d_in]:

    z = LayerNorm(GELU(h W_t + b_t)),  W_t [d_in, d_model];
    logits = z E[:V]^T + b  (tied to the token embedding E [V+2, d_model]) or  z W_o + b  (untied, W_o [d_model, V]).

  Only the V real words get logits (PAD and MASK rows of E are never predicted).
  """
  vocab_size: int
  d_model: int
  tie_embeddings: bool = True
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, h, embedding=None):
    z = nn.Dense(self.d_model, dtype=self.dtype, param_dtype=self.param_dtype, name="transform",
                 kernel_init=normal_init(("embed", "mlp")), bias_init=zeros_init(("mlp",)))(h)
    z = layer_norm("norm", self.dtype, self.param_dtype)(gelu(z))
    bias = self.param("output_bias", zeros_init(("vocab",)), (self.vocab_size,), self.param_dtype)
    if self.tie_embeddings:
      if embedding is None:
        raise ValueError("tie_embeddings=True needs the token embedding table")
      w = embedding[: self.vocab_size].astype(self.dtype)
      logits = jnp.einsum("...d,vd->...v", z, w)
    else:
      logits = nn.Dense(self.vocab_size, use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype,
                        name="output", kernel_init=normal_init(("embed", "vocab")))(z)
    return output_dtype(logits + bias.astype(logits.dtype))


class TokenEmbed(nn.Module):
  """Token embedding table E [V+2, d] (rows V = PAD, V+1 = MASK); lookup by `jnp.take` (a gather that the SPMD
  partitioner handles for batch-sharded ids and a ('vocab', 'embed')-sharded table). Out-of-range ids give NaN."""
  num_embeddings: int
  features: int
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32

  def setup(self):
    self.embedding = self.param("embedding", normal_init(("vocab", "embed")),
                                (self.num_embeddings, self.features), self.param_dtype)

  def __call__(self, tokens):
    return jnp.take(self.embedding.astype(self.dtype), tokens, axis=0)


def count_params(params):
  """Number of scalars in a params pytree (arrays, ShapeDtypeStructs or boxed LogicallyPartitioned leaves)."""
  return int(sum(math.prod(x.shape) if hasattr(x, "shape") else 1 for x in jax.tree.leaves(params)))
