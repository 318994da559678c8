"""The OPT causal decoder (Zhang et al. 2022, "OPT: Open Pre-trained Transformer Language Models") in flax.linen,
numerically the Hugging Face `OPTForCausalLM` (checked to 1e-5 in tests/models/test_decoder.py).

For token ids z_0..z_{T−1} with attention mask m (1 = real token):

    e_i   = E[z_i] W_in                        E [V, e] (tied to the LM head), W_in [e, d] only when e ≠ d (opt-350m)
    x_i   = e_i + P[pos_i + 2]                 learned positions with OPT's offset of 2, pos = cumsum(m)·m − 1
    block (pre-LN, do_layer_norm_before):   x ← x + Attn(LN_1(x));  x ← x + W_2 ReLU(W_1 LN_2(x) + b_1) + b_2
    block (post-LN):                         x ← LN_1(x + Attn(x));  x ← LN_2(x + W_2 ReLU(W_1 x + b_1) + b_2)
    Attn(h) = W_o softmax(q kᵀ + mask) v,  q = (W_q h + b_q)·hd^−½ per head; the mask lets query i see keys j ≤ i
              with m_j = 1 (causal + padding)
    h     = LN_final(x) (pre-LN only, unless removed) then W_out [d, e] when e ≠ d
    logits_i = h_i Eᵀ                          [V]: the next-token scores p(z_{i+1} | z_≤i) ∝ exp(logits_i)

LayerNorm ε = 1e-5 (PyTorch's default). Attention scores and softmax are computed in at least float32.

Incremental evaluation. `forward(tokens [B, G, T], positions, valid, past, past_valid)` runs G groups of T new
tokens per batch row on top of a shared prefix: `past` holds, per layer, the keys and values [B, P, H, hd] of the
prefix (from an earlier `forward`), which every group attends to where `past_valid` [B, P] is set, without copying
it G times. It returns the final hidden states [B, G, T, e] and the new keys and values [B, G, T, H, hd] per layer.
The sampler (one token at a time against a key/value buffer) and the exact masked conditionals of
flatness_jax.data.lm (K candidate suffixes after one prefix) both use it. With `past_layout=CACHE_LAYOUT` the past
is held as keys [B, H, P, hd] and values [B, H, hd, P] (the sampler's buffer): the same products, bit for bit on
XLA's CPU backend, without transposing the buffer at every token (tests/decoder/test_opt.py, tests/data/test_lm.py;
benchmarks/bench_lm_sampling.py).

Parameter tree (the Hugging Face names, flax leaf names; flatness_jax.decoder.hf_checkpoint maps them):
  embed_tokens [V, e];  embed_positions [P + 2, d];  project_in/kernel [e, d], project_out/kernel [d, e] (e ≠ d)
  layers_i/self_attn/{q,k,v,out}_proj/{kernel [d, d], bias [d]};  layers_i/fc1/{kernel [d, f], bias [f]};
  layers_i/fc2/{kernel [f, d], bias [d]};  layers_i/{self_attn_layer_norm,final_layer_norm}/{scale, bias} [d];
  final_layer_norm/{scale, bias} [d] (pre-LN).
"""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

POSITION_OFFSET = 2  # OPT's learned position table has two extra rows in front (fairseq's padding convention).
# Layouts of `past`: keys and values [B, P, H, hd]; or keys [B, H, P, hd] and values [B, H, hd, P] (a sampler's cache).
PAST_LAYOUT, CACHE_LAYOUT = "bphc", "cache"
LAYER_NORM_EPS = 1e-5


@dataclasses.dataclass(frozen=True)
class DecoderConfig:
  """The shape of an OPT decoder (the fields of a Hugging Face OPTConfig that change the function)."""
  vocab_size: int
  hidden_size: int
  num_layers: int
  num_heads: int
  ffn_dim: int
  max_positions: int             # max_position_embeddings (the table has max_positions + 2 rows)
  embed_dim: int = 0             # word_embed_proj_dim; 0 means hidden_size
  pre_layer_norm: bool = True    # do_layer_norm_before
  final_layer_norm: bool = True  # applied only with pre_layer_norm (not _remove_final_layer_norm)
  bias: bool = True              # enable_bias
  layer_norm_affine: bool = True  # layer_norm_elementwise_affine
  pad_id: int = 1
  bos_id: int = 2
  eos_id: int = 2

  @property
  def word_dim(self) -> int:
    return self.embed_dim or self.hidden_size

  @property
  def head_dim(self) -> int:
    return self.hidden_size // self.num_heads

  @property
  def has_final_norm(self) -> bool:
    return self.pre_layer_norm and self.final_layer_norm

  def validate(self, where: str = "decoder") -> "DecoderConfig":
    """Raises ValueError naming `where`.field for shapes the architecture cannot have; returns self."""
    for field in ("vocab_size", "hidden_size", "num_layers", "num_heads", "ffn_dim", "max_positions"):
      value = getattr(self, field)
      if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{where}.{field} must be a positive int, got {value!r}")
    if self.hidden_size % self.num_heads:
      raise ValueError(f"{where}.hidden_size={self.hidden_size} is not divisible by num_heads={self.num_heads}")
    for field in ("pad_id", "bos_id", "eos_id"):
      value = getattr(self, field)
      if not 0 <= value < self.vocab_size:
        raise ValueError(f"{where}.{field}={value} is outside the vocabulary [0, {self.vocab_size})")
    return self

  @property
  def non_embedding_params(self) -> int:
    """Parameters of the blocks (what every token's forward pass multiplies through): n (4d² + 2df) + biases."""
    d, f = self.hidden_size, self.ffn_dim
    return self.num_layers * (4 * d * d + 2 * d * f + (4 * d + f + d if self.bias else 0) + 4 * d)


def _dense(features, cfg, init_std, name, dtype, param_dtype, bias=None):
  return nn.Dense(features, use_bias=cfg.bias if bias is None else bias, name=name, dtype=dtype,
                  param_dtype=param_dtype, kernel_init=nn.initializers.normal(init_std))


def _layer_norm(cfg, name, dtype, param_dtype):
  return nn.LayerNorm(epsilon=LAYER_NORM_EPS, use_scale=cfg.layer_norm_affine, use_bias=cfg.layer_norm_affine,
                      name=name, dtype=dtype, param_dtype=param_dtype)


class _Part(nn.Module):
  """The fields every part of the decoder carries: its shape, the init scale, compute and parameter dtypes."""
  cfg: DecoderConfig
  init_std: float = 0.02
  dtype: jnp.dtype = jnp.float32
  param_dtype: jnp.dtype = jnp.float32


class SelfAttention(_Part):
  """Causal multi-head attention of new tokens [B, G, T, d] over themselves and a shared prefix (module docstring)."""

  @nn.compact
  def __call__(self, x, valid, past=None, past_valid=None, past_layout=PAST_LAYOUT):
    cfg = self.cfg
    if past_layout not in (PAST_LAYOUT, CACHE_LAYOUT):
      raise ValueError(f"past_layout={past_layout!r}; choose {PAST_LAYOUT!r} or {CACHE_LAYOUT!r}")
    cache = past_layout == CACHE_LAYOUT
    b, g, t, d = x.shape
    heads = lambda a: a.reshape(b, g, t, cfg.num_heads, cfg.head_dim)
    proj = lambda name: _dense(d, cfg, self.init_std, name, self.dtype, self.param_dtype)
    q = heads(proj("q_proj")(x)) * (cfg.head_dim ** -0.5)
    k, v = heads(proj("k_proj")(x)), heads(proj("v_proj")(x))
    score_dtype = jnp.promote_types(q.dtype, jnp.float32)
    neg = jnp.finfo(score_dtype).min
    causal = jnp.tril(jnp.ones((t, t), bool))
    new_mask = causal[None, None, None] & valid[:, :, None, None, :]           # [B, G, 1, T, T]
    scores = jnp.where(new_mask, jnp.einsum("bgqhc,bgkhc->bghqk", q, k).astype(score_dtype), neg)
    if past is not None:
      pk, pv = past
      num_past = pk.shape[2] if cache else pk.shape[1]
      old = jnp.einsum("bgqhc,bhpc->bghqp" if cache else "bgqhc,bphc->bghqp", q, pk).astype(score_dtype)
      old = jnp.where(past_valid[:, None, None, None, :], old, neg)
      scores = jnp.concatenate([old, scores], axis=-1)
    probs = jax.nn.softmax(scores, axis=-1).astype(self.dtype)
    if past is not None:
      p_old, probs = probs[..., :num_past], probs[..., num_past:]
      out = (jnp.einsum("bghqp,bhcp->bgqhc" if cache else "bghqp,bphc->bgqhc", p_old, pv)
             + jnp.einsum("bghqk,bgkhc->bgqhc", probs, v))
    else:
      out = jnp.einsum("bghqk,bgkhc->bgqhc", probs, v)
    return proj("out_proj")(out.reshape(b, g, t, d)), (k, v)


class DecoderLayer(_Part):
  """One OPT block, pre- or post-LayerNorm (module docstring); returns (x, (keys, values))."""

  @nn.compact
  def __call__(self, x, valid, past=None, past_valid=None, past_layout=PAST_LAYOUT):
    cfg, kw = self.cfg, dict(dtype=self.dtype, param_dtype=self.param_dtype)
    attn_norm = _layer_norm(cfg, "self_attn_layer_norm", **kw)
    ffn_norm = _layer_norm(cfg, "final_layer_norm", **kw)
    h = attn_norm(x) if cfg.pre_layer_norm else x
    h, kv = SelfAttention(cfg, self.init_std, name="self_attn", **kw)(h, valid, past, past_valid, past_layout)
    x = x + h
    if not cfg.pre_layer_norm:
      x = attn_norm(x)
    h = ffn_norm(x) if cfg.pre_layer_norm else x
    h = _dense(cfg.ffn_dim, cfg, self.init_std, "fc1", **kw)(h)
    h = _dense(cfg.hidden_size, cfg, self.init_std, "fc2", **kw)(jax.nn.relu(h))
    x = x + h
    if not cfg.pre_layer_norm:
      x = ffn_norm(x)
    return x, kv


class Decoder(_Part):
  """OPT decoder with its tied LM head; see the module docstring. `init_std` is the N(0, σ²) scale of every matrix
  and embedding at initialisation (OPT's init_std 0.02); biases start at 0, LayerNorms at (1, 0)."""

  def setup(self):
    cfg, kw = self.cfg, dict(dtype=self.dtype, param_dtype=self.param_dtype)
    init = nn.initializers.normal(self.init_std)
    self.embed_tokens = self.param("embed_tokens", init, (cfg.vocab_size, cfg.word_dim), self.param_dtype)
    self.embed_positions = self.param("embed_positions", init, (cfg.max_positions + POSITION_OFFSET,
                                                                 cfg.hidden_size), self.param_dtype)
    projected = cfg.word_dim != cfg.hidden_size
    self.project_in = _dense(cfg.hidden_size, cfg, self.init_std, None, bias=False, **kw) if projected else None
    self.project_out = _dense(cfg.word_dim, cfg, self.init_std, None, bias=False, **kw) if projected else None
    self.layers = [DecoderLayer(cfg, self.init_std, **kw) for _ in range(cfg.num_layers)]
    self.final_layer_norm = _layer_norm(cfg, None, **kw) if cfg.has_final_norm else None

  def forward(self, tokens, positions, valid, past=None, past_valid=None, past_layout=PAST_LAYOUT):
    """Hidden states [B, G, T, e] (after the final LayerNorm and project_out) of `tokens` [B, G, T] at 0-based
    `positions` [B, G, T], and the keys/values [(k, v)] per layer ([B, G, T, H, hd] each). `valid` [B, G, T]: keys
    that may be attended to; `past` [(k, v)] per layer [B, P, H, hd] with `past_valid` [B, P]: a prefix shared by
    the G groups of each row (`past_layout=CACHE_LAYOUT`: keys [B, H, P, hd], values [B, H, hd, P])."""
    x = jnp.take(self.embed_tokens.astype(self.dtype), tokens, axis=0)
    if self.project_in is not None:
      x = self.project_in(x)
    x = x + jnp.take(self.embed_positions.astype(self.dtype), positions + POSITION_OFFSET, axis=0)
    kvs = []
    for i, layer in enumerate(self.layers):
      x, kv = layer(x, valid, None if past is None else past[i], past_valid, past_layout)
      kvs.append(kv)
    if self.final_layer_norm is not None:
      x = self.final_layer_norm(x)
    if self.project_out is not None:
      x = self.project_out(x)
    return x, kvs

  def logits(self, hidden, ids=None):
    """Scores h Eᵀ of hidden states [..., e] for every token, or only for the token ids `ids` [K] ([..., K])."""
    table = self.embed_tokens if ids is None else jnp.take(self.embed_tokens, ids, axis=0)
    out = jnp.einsum("...e,ve->...v", hidden, table.astype(hidden.dtype))
    return out.astype(jnp.promote_types(out.dtype, jnp.float32))

  def __call__(self, tokens, attention_mask=None):
    """Next-token logits [B, T, V] of `tokens` [B, T] (OPTForCausalLM's, with its position ids for any padding)."""
    mask = jnp.ones(tokens.shape, jnp.int32) if attention_mask is None else jnp.asarray(attention_mask, jnp.int32)
    positions = jnp.cumsum(mask, axis=1) * mask - 1
    hidden, _ = self.forward(tokens[:, None], positions[:, None], mask[:, None].astype(bool))
    return self.logits(hidden[:, 0])
