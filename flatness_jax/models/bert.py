"""BERT-style pre-LN transformer encoder for masked language modelling (Devlin et al. 2019; pre-LN as in
Xiong et al. 2020), the model of Liu, Xie, Li, Ma (ICML 2023).

    x_0 = LayerNorm_emb(E[tokens] + P[:L])                                  (dropout after)
    x_{l+1}' = x_l + Dropout(Attn(LN_1(x_l)))       Attn masks PAD keys (tokens == V)
    x_{l+1}  = x_{l+1}' + Dropout(W_o GELU(W_i LN_2(x_{l+1}') + b_i) + b_o)
    features = LN_final(x_num_layers)                                         [B, L, d]
    logits   = MLMHead(features gathered at the masked positions)             [B, V] or [B, K, V]

The MLM head (dense + GELU + LayerNorm + projection on the V words, tied to E by default as in BERT) runs only
on the gathered masked positions: logits are never computed for every token. All matrices start N(0, 0.02^2),
biases 0 (BERT's initializer_range). Attention scores and softmax are computed in float32 (or float64 under x64)
whatever `dtype`; logits come back in at least float32.

Parameter tree (unrolled; `scan_layers=True` stacks the blocks under 'layers' with a leading 'layers' axis):
  token_embed/embedding [V+2, d] ('vocab','embed');  position_embedding [max_length, d] (None,'embed')
  embed_norm/{scale,bias} [d];  final_norm/{scale,bias} [d]                 ('embed',)
  layers_i/attn_norm, layers_i/mlp_norm: {scale,bias} [d]                  ('embed',)
  layers_i/attn/{query,key,value}/kernel [d, H, hd] ('embed','heads','kv'), bias [H, hd] ('heads','kv')
  layers_i/attn/out/kernel [H, hd, d] ('heads','kv','embed'), bias [d] ('embed',)
  layers_i/mlp/wi/kernel [d, f] ('embed','mlp'), bias [f];  layers_i/mlp/wo/kernel [f, d] ('mlp','embed'), bias [d]
  head/transform/kernel [d, d] ('embed','mlp'), bias [d] ('mlp',);  head/norm/{scale,bias} [d];
  head/output_bias [V] ('vocab',);  untied only: head/output/kernel [d, V] ('embed','vocab')
"""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from flatness_jax.tokens import vocab
from flatness_jax.models import common


class Attention(nn.Module):
  """Multi-head self-attention softmax(q k^T / sqrt(hd) + mask) v over H heads of width hd, output W_out."""
  d_model: int
  num_heads: int
  head_dim: int
  dropout: float = 0.0
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, key_mask, train, queries=None):
    """x [B, L, d] (keys and values); queries [B, Q, d] (default x): the output has one row per query."""
    proj = lambda name: nn.DenseGeneral(
        (self.num_heads, self.head_dim), axis=-1, dtype=self.dtype, param_dtype=self.param_dtype, name=name,
        kernel_init=common.normal_init(("embed", "heads", "kv")), bias_init=common.zeros_init(("heads", "kv")))
    q = proj("query")(x if queries is None else queries)  # [B, Q, H, hd]
    k, v = proj("key")(x), proj("value")(x)  # [B, L, H, hd]
    scores = jnp.einsum("bqhc,bkhc->bhqk", q, k).astype(jnp.promote_types(q.dtype, jnp.float32))
    scores = scores / math.sqrt(self.head_dim)
    scores = jnp.where(key_mask[:, None, None, :], scores, jnp.finfo(scores.dtype).min)
    probs = jax.nn.softmax(scores, axis=-1)
    probs = nn.Dropout(self.dropout, deterministic=not train)(probs).astype(self.dtype)
    out = jnp.einsum("bhqk,bkhc->bqhc", probs, v)
    return nn.DenseGeneral(self.d_model, axis=(-2, -1), dtype=self.dtype, param_dtype=self.param_dtype, name="out",
                           kernel_init=common.normal_init(("heads", "kv", "embed")),
                           bias_init=common.zeros_init(("embed",)))(out)


class Mlp(nn.Module):
  """Position-wise FFN W_o GELU(W_i x + b_i) + b_o with W_i [d, f], W_o [f, d]."""
  d_model: int
  d_ff: int
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = nn.Dense(self.d_ff, name="wi", kernel_init=common.normal_init(("embed", "mlp")),
                 bias_init=common.zeros_init(("mlp",)), **kw)(x)
    return nn.Dense(self.d_model, name="wo", kernel_init=common.normal_init(("mlp", "embed")),
                    bias_init=common.zeros_init(("embed",)), **kw)(common.gelu(h))


class Block(nn.Module):
  """Pre-LN transformer block x + Attn(LN(x)), then + Mlp(LN(.)); returns (x, None) so nn.scan can stack it."""
  d_model: int
  num_heads: int
  head_dim: int
  d_ff: int
  dropout: float = 0.0
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, key_mask, train, positions=None):
    """x [B, L, d] -> [B, L, d]; with positions [B, K], only the rows at those positions, [B, K, d] (the same
    values: keys and values still come from every token, queries and the FFN from the K rows only)."""
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    drop = nn.Dropout(self.dropout, deterministic=not train)
    h = common.layer_norm("attn_norm", **kw)(x)
    attn = Attention(self.d_model, self.num_heads, self.head_dim, self.dropout, name="attn", **kw)
    if positions is None:
      h = attn(h, key_mask, train)
    else:
      h = attn(h, key_mask, train, queries=common.gather_positions(h, positions))
      x = common.gather_positions(x, positions)
    x = x + drop(h)
    h = Mlp(self.d_model, self.d_ff, name="mlp", **kw)(common.layer_norm("mlp_norm", **kw)(x))
    return x + drop(h), None


class BertMLM(nn.Module):
  """BERT-style MLM encoder; see the module docstring for the equations and the parameter tree.

  Attributes: vocab_size V (real words; embedding has V+2 rows), max_length (position table rows), d_model,
  num_layers, num_heads, d_ff, head_dim (None: d_model // num_heads), dropout (embeddings, attention
  probabilities, residual branches; active only with train=True and a 'dropout' rng), tie_embeddings (default
  True, as BERT), scan_layers (stack blocks with nn.scan: one compiled block, params get a leading 'layers'
  axis), dtype (compute), param_dtype.
  """
  vocab_size: int
  max_length: int
  d_model: int = 64
  num_layers: int = 2
  num_heads: int = 4
  d_ff: int = 256
  head_dim: int | None = None
  dropout: float = 0.0
  tie_embeddings: bool = True
  scan_layers: bool = False
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32

  @property
  def pad_id(self):
    return vocab.pad_id(self.vocab_size)

  @property
  def mask_id(self):
    return vocab.mask_id(self.vocab_size)

  @property
  def feature_dim(self):
    return self.d_model

  def setup(self):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.token_embed = common.TokenEmbed(self.vocab_size + 2, self.d_model, **kw)
    self.position_embedding = self.param("position_embedding", common.normal_init((None, "embed")),
                                         (self.max_length, self.d_model), self.param_dtype)
    self.embed_norm = common.layer_norm(None, **kw)
    self.embed_dropout = nn.Dropout(self.dropout)
    block_kw = dict(d_model=self.d_model, num_heads=self.num_heads,
                    head_dim=self.head_dim or self.d_model // self.num_heads,
                    d_ff=self.d_ff, dropout=self.dropout, **kw)
    if self.scan_layers:
      self.layers = nn.scan(Block, variable_axes={"params": 0}, split_rngs={"params": True, "dropout": True},
                            in_axes=(nn.broadcast, nn.broadcast), length=self.num_layers,
                            metadata_params={nn.PARTITION_NAME: "layers"})(**block_kw)
    else:
      self.layers = [Block(**block_kw) for _ in range(self.num_layers)]
    self.final_norm = common.layer_norm(None, **kw)
    self.head = common.MLMHead(self.vocab_size, self.d_model, self.tie_embeddings, **kw)

  def _embed(self, tokens, train):
    """x_0 [B, L, d] and the key mask [B, L] (False at PAD)."""
    length = tokens.shape[1]
    if length > self.max_length:
      raise ValueError(f"sequence length {length} exceeds max_length {self.max_length}")
    key_mask = tokens != self.pad_id  # [B, L]: PAD keys get no attention
    x = self.token_embed(tokens) + self.position_embedding[:length].astype(self.dtype)
    return self.embed_dropout(self.embed_norm(x), deterministic=not train), key_mask

  def _encode(self, tokens, train):
    """Residual stream after the last block (before the final LayerNorm), [B, L, d]."""
    x, key_mask = self._embed(tokens, train)
    if self.scan_layers:
      x, _ = self.layers(x, key_mask, train)
    else:
      for block in self.layers:
        x, _ = block(x, key_mask, train)
    return x

  def __call__(self, tokens, positions, *, train=False):
    """Logits over the V words at `positions` ([B] -> [B, V]; [B, K] -> [B, K, V]) of tokens [B, L] int32.

    Only the masked positions' logits are needed, so the last block computes its queries, attention output and
    FFN at the K gathered rows (keys and values still at all L tokens): the logits are the same function as
    head(features(tokens) gathered at positions) (tests/models/test_bert.py), and the last block costs about
    K/L + (1 − K/L)·f_kv of a full one (f_kv: the key/value projections' share of a block's FLOPs). With
    scan_layers every block runs on all tokens (one scanned program)."""
    if self.scan_layers or self.num_layers == 0:
      h = common.gather_positions(self._encode(tokens, train), positions)
      return self.head(self.final_norm(h), self.token_embed.embedding)
    idx = positions[:, None] if positions.ndim == 1 else positions
    x, key_mask = self._embed(tokens, train)
    for block in self.layers[:-1]:
      x, _ = block(x, key_mask, train)
    h, _ = self.layers[-1](x, key_mask, train, positions=idx)  # [B, K, d]
    logits = self.head(self.final_norm(h), self.token_embed.embedding)
    return logits[:, 0] if positions.ndim == 1 else logits

  def features(self, tokens, *, train=False):
    """Every token's final representation LN_final(x_num_layers), [B, L, d] (for probes)."""
    return self.final_norm(self._encode(tokens, train))

  def pooled(self, tokens, *, train=False, how="mean"):
    """A sentence representation [B, d] for fine-tuning: how='mean' averages `features` over the real (non-PAD)
    tokens; how='first' takes position 0 (there is no [CLS] token in this vocabulary, so 'first' is the
    first word's state)."""
    feats = self.features(tokens, train=train)
    if how == "first":
      return feats[:, 0]
    if how != "mean":
      raise ValueError(f"pooled: how must be 'mean' or 'first', got {how!r}")
    real = (tokens != self.pad_id).astype(feats.dtype)[..., None]
    return (feats * real).sum(1) / jnp.maximum(real.sum(1), 1)


def unstack_layers(params):
  """Converts a scan_layers=True params tree ('layers' with a leading layer axis) to the unrolled layout
  (layers_0, layers_1, ...); an unrolled tree is returned unchanged. Plain (unboxed) arrays."""
  if "layers" not in params:
    return dict(params)
  out = {k: v for k, v in params.items() if k != "layers"}
  n = jax.tree.leaves(params["layers"])[0].shape[0]
  for i in range(n):
    out[f"layers_{i}"] = jax.tree.map(lambda x, i=i: x[i], params["layers"])
  return out


def stack_layers(params):
  """Inverse of `unstack_layers`: layers_0..layers_{n-1} stacked under 'layers' (the scan_layers=True layout)."""
  names = sorted((k for k in params if k.startswith("layers_")), key=lambda k: int(k.split("_")[1]))
  if not names:
    return dict(params)
  out = {k: v for k, v in params.items() if not k.startswith("layers_")}
  out["layers"] = jax.tree.map(lambda *xs: jnp.stack(xs), *[params[k] for k in names])
  return out
