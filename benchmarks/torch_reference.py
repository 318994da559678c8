"""PyTorch (eager) replica of flatness_jax.models.BertMLM and its AdamW train step, for speed comparisons.

Same architecture, initialisation scale and parameter count as BertMLM (pre-LN encoder, learned positions,
embedding LayerNorm, exact GELU, PAD keys masked, MLM head dense + GELU + LayerNorm + projection tied to the
first V embedding rows with its own bias, evaluated only at the masked positions). `load_flax_params` copies
a BertMLM params tree into the replica so a benchmark can check both compute the same logits before timing.

`math_attention=True` computes attention as softmax(q kᵀ/√hd + mask) v in plain operations instead of
F.scaled_dot_product_attention, whose CPU flash kernel has no double backward: Hessian-vector products
(torch.autograd.grad with create_graph, as PyHessian does) need it. `TrainStep` runs AdamW steps eagerly or with the
model under torch.compile (inductor).

torch is optional (setup.cfg extra `bench`, the CPU wheel torch==2.13.0); importing this module without it
raises ImportError with that hint. Set threads with torch.set_num_threads(n) to compare at equal threads.
"""
try:
  import torch
  from torch import nn
  import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
  raise ImportError("benchmarks/torch_reference.py needs torch: pip install "
                    "/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl") from e

import numpy as np

EPS = 1e-6  # flax.linen.LayerNorm's default epsilon, used by BertMLM.
INIT_STD = 0.02


class _Block(nn.Module):
  """x + Attn(LN(x)), then + W_o GELU(W_i LN(.) + b_i) + b_o."""

  def __init__(self, d_model, num_heads, head_dim, d_ff, math_attention=False):
    super().__init__()
    a = num_heads * head_dim
    self.num_heads, self.head_dim, self.math_attention = num_heads, head_dim, math_attention
    self.attn_norm, self.mlp_norm = nn.LayerNorm(d_model, eps=EPS), nn.LayerNorm(d_model, eps=EPS)
    self.query, self.key, self.value = nn.Linear(d_model, a), nn.Linear(d_model, a), nn.Linear(d_model, a)
    self.out = nn.Linear(a, d_model)
    self.wi, self.wo = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)

  def forward(self, x, key_mask):
    b, l, _ = x.shape
    h = self.attn_norm(x)
    split = lambda t: t.view(b, l, self.num_heads, self.head_dim).transpose(1, 2)  # [B, H, L, hd]
    q, k, v = split(self.query(h)), split(self.key(h)), split(self.value(h))
    if self.math_attention:  # twice differentiable
      scores = (q @ k.transpose(-1, -2)) / self.head_dim ** 0.5
      scores = scores.masked_fill(~key_mask[:, None, None, :], torch.finfo(scores.dtype).min)
      o = torch.softmax(scores, dim=-1) @ v
    else:
      o = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask[:, None, None, :])
    x = x + self.out(o.transpose(1, 2).reshape(b, l, -1))
    return x + self.wo(F.gelu(self.wi(self.mlp_norm(x))))


class TorchBertMLM(nn.Module):
  """BertMLM in PyTorch: forward(tokens [B, L] long, positions [B] or [B, K] long) -> logits [B(, K), V]."""

  def __init__(self, vocab_size, max_length, d_model, num_layers, num_heads, d_ff, head_dim=None,
               tie_embeddings=True, math_attention=False):
    super().__init__()
    self.vocab_size = vocab_size
    head_dim = head_dim or d_model // num_heads
    self.token_embed = nn.Embedding(vocab_size + 2, d_model)
    self.position_embedding = nn.Parameter(torch.zeros(max_length, d_model))
    self.embed_norm, self.final_norm = nn.LayerNorm(d_model, eps=EPS), nn.LayerNorm(d_model, eps=EPS)
    self.layers = nn.ModuleList([_Block(d_model, num_heads, head_dim, d_ff, math_attention)
                                 for _ in range(num_layers)])
    self.head_transform, self.head_norm = nn.Linear(d_model, d_model), nn.LayerNorm(d_model, eps=EPS)
    self.output = None if tie_embeddings else nn.Linear(d_model, vocab_size, bias=False)
    self.output_bias = nn.Parameter(torch.zeros(vocab_size))
    for name, p in self.named_parameters():  # BertMLM's init: N(0, 0.02^2) matrices, zero biases, LN scale 1.
      if p.dim() == 2:
        nn.init.normal_(p, std=INIT_STD)
      elif name.endswith("bias"):
        nn.init.zeros_(p)

  def features(self, tokens):
    key_mask = tokens != self.vocab_size  # PAD = V gets no attention
    x = self.embed_norm(self.token_embed(tokens) + self.position_embedding[: tokens.shape[1]])
    for layer in self.layers:
      x = layer(x, key_mask)
    return x

  def forward(self, tokens, positions):
    squeeze = positions.dim() == 1
    idx = positions[:, None] if squeeze else positions
    h = torch.gather(self.features(tokens), 1, idx[..., None].expand(-1, -1, self.position_embedding.shape[1]))
    z = self.head_norm(F.gelu(self.head_transform(self.final_norm(h))))
    w = self.token_embed.weight[: self.vocab_size] if self.output is None else self.output.weight
    logits = z @ w.T + self.output_bias
    return logits[:, 0] if squeeze else logits


def count_params(model):
  return sum(p.numel() for p in model.parameters())


class TrainStep:
  """AdamW steps (the quickstart's recipe: betas (0.9, 0.98), no weight decay) on the mean cross-entropy at the masked
  positions; `compiled=True` runs the model's forward and backward under torch.compile (inductor, CPU C++ code)."""

  def __init__(self, model, lr, betas=(0.9, 0.98), weight_decay=0.0, compiled=False):
    self.model = model
    self.forward = torch.compile(model) if compiled else model
    self.opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay, foreach=True)

  def __call__(self, tokens, positions, targets) -> float:
    tokens, positions, targets = (torch.as_tensor(np.asarray(t), dtype=torch.long)
                                  for t in (tokens, positions, targets))
    logits = self.forward(tokens, positions)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    self.opt.zero_grad(set_to_none=True)
    loss.backward()
    self.opt.step()
    return loss.item()


def torch_train_steps(model, batches, lr, betas=(0.9, 0.98), weight_decay=0.0, step=None):
  """Runs `step` (default: an eager TrainStep) over batches of (tokens [B, L], positions [B] or [B, K], targets
  like positions), numpy or torch. Returns the per-step losses (floats)."""
  step = step or TrainStep(model, lr, betas, weight_decay)
  model.train()
  return [step(*b) for b in batches]


def load_flax_params(model, params):
  """Copies a (unboxed, unrolled) flatness_jax BertMLM params tree into `model`, in place."""
  t = lambda x: torch.as_tensor(np.asarray(x, dtype=np.float32))
  ln = lambda mod, p: (mod.weight.copy_(t(p["scale"])), mod.bias.copy_(t(p["bias"])))
  lin = lambda mod, p: (mod.weight.copy_(t(p["kernel"]).reshape(-1, mod.weight.shape[0]).T),
                        mod.bias.copy_(t(p["bias"]).reshape(-1)))
  with torch.no_grad():
    model.token_embed.weight.copy_(t(params["token_embed"]["embedding"]))
    model.position_embedding.copy_(t(params["position_embedding"]))
    ln(model.embed_norm, params["embed_norm"])
    ln(model.final_norm, params["final_norm"])
    for i, layer in enumerate(model.layers):
      p = params[f"layers_{i}"]
      ln(layer.attn_norm, p["attn_norm"])
      ln(layer.mlp_norm, p["mlp_norm"])
      for name in ("query", "key", "value", "out"):
        lin(getattr(layer, name), p["attn"][name])
      lin(layer.wi, p["mlp"]["wi"])
      lin(layer.wo, p["mlp"]["wo"])
    lin(model.head_transform, params["head"]["transform"])
    ln(model.head_norm, params["head"]["norm"])
    model.output_bias.copy_(t(params["head"]["output_bias"]))
    if model.output is not None:
      model.output.weight.copy_(t(params["head"]["output"]["kernel"]).T)
  return model

