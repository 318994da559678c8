"""Bidirectional LSTM masked language model (the paper's HMM-data models, Liu et al. 2023 §3, 10M-135M).

    x_0 = E[tokens]                                            [B, L, d]   (E [V+2, d]: PAD = V, MASK = V+1)
    x_{l+1} = Dropout([LSTM_fwd(x_l) ; LSTM_bwd(x_l)])          [B, L, 2d]  each direction has d hidden units
    features = x_num_layers                                     [B, L, 2d]
    logits   = MLMHead(features at the masked positions)        dense 2d -> d, GELU, LayerNorm, tied to E

The LSTM cell (flax OptimizedLSTMCell, gates i f g o) is
    i, f, o = sigmoid(W_i* x + W_h* h + b_*),  g = tanh(W_ig x + W_hg h + b_g),  c' = f c + i g,  h' = o tanh(c').
Padding: sequence lengths are the number of non-PAD tokens (PAD only after a sentence's length), and the reverse
direction starts at each sentence's real end (`nn.RNN(seq_lengths=..., keep_order=True)`), so tokens after the
length never reach real positions in either direction.

Parameter tree: token_embed/embedding [V+2, d] ('vocab','embed');
  layers_i/forward_rnn/cell/{ii,if,ig,io}/kernel [d_in, d] ('embed','mlp'), .../{hi,hf,hg,ho}/kernel [d, d]
  (None,'mlp') and bias [d] ('mlp',) (likewise backward_rnn), d_in = d for layer 0 and 2d after;
  head/... as in common.MLMHead with a [2d, d] transform.
"""
import flax.linen as nn
import jax.numpy as jnp

from flatness_jax.tokens import vocab
from flatness_jax.models import common


class BiLSTMMLM(nn.Module):
  """Embedding -> num_layers bidirectional LSTM layers (d_model hidden units per direction) -> MLM head.

  Attributes: vocab_size V, max_length (checked only), d_model, num_layers, dropout (between layers, train=True
  only), tie_embeddings (default True: head output E[:V]^T), dtype, param_dtype.
  """
  vocab_size: int
  max_length: int
  d_model: int = 64
  num_layers: int = 2
  dropout: float = 0.0
  tie_embeddings: bool = True
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
    return 2 * self.d_model

  def setup(self):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.token_embed = common.TokenEmbed(self.vocab_size + 2, self.d_model, **kw)

    def rnn():
      cell = nn.OptimizedLSTMCell(self.d_model, kernel_init=common.normal_init(("embed", "mlp")),
                                  recurrent_kernel_init=common.named_init(nn.initializers.orthogonal(), (None, "mlp")),
                                  bias_init=common.zeros_init(("mlp",)), **kw)
      return nn.RNN(cell)

    self.layers = [nn.Bidirectional(rnn(), rnn()) for _ in range(self.num_layers)]
    self.drop = nn.Dropout(self.dropout)
    self.head = common.MLMHead(self.vocab_size, self.d_model, self.tie_embeddings, **kw)

  def features(self, tokens, *, train=False):
    """Concatenated forward and backward hidden states of the last layer, [B, L, 2 d_model]."""
    if tokens.shape[1] > self.max_length:
      raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_length {self.max_length}")
    lengths = (tokens != self.pad_id).sum(axis=1).astype(jnp.int32)
    x = self.token_embed(tokens)
    for layer in self.layers:
      x = self.drop(layer(x, seq_lengths=lengths), deterministic=not train)
    return x

  def __call__(self, tokens, positions, *, train=False):
    """Logits over the V words at `positions` ([B] -> [B, V]; [B, K] -> [B, K, V]) of tokens [B, L] int32."""
    h = common.gather_positions(self.features(tokens, train=train), positions)
    return self.head(h, self.token_embed.embedding)

  def pooled(self, tokens, *, train=False, how="mean"):
    """Sentence representation [B, 2d]: mean of `features` over real tokens ('mean') or position 0 ('first')."""
    feats = self.features(tokens, train=train)
    if how == "first":
      return feats[:, 0]
    if how != "mean":
      raise ValueError(f"pooled: how must be 'mean' or 'first', got {how!r}")
    real = (tokens != self.pad_id).astype(feats.dtype)[..., None]
    return (feats * real).sum(1) / jnp.maximum(real.sum(1), 1)
