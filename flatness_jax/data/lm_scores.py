"""The jitted decoder passes of the LM language (flatness_jax.data.lm): sampling after a prompt, the log-likelihood
of a sentence given a prompt, and the log-likelihood of every candidate word at a masked position.

Sequences. A sentence x_1..x_n generated after the prompt c = (c_1..c_P) (P ≥ 0 decoder ids) is scored as the
decoder input z = (BOS, c_1..c_P, x_1..x_n, PAD, ..) of length 1 + P + L: x_i sits at z index P + i and the hidden
state at index P + i − 1 gives its scores l(z_<P+i). With the restriction to S (|S| = K) at temperature T,

    log p_S(x_i | c, x_<i) = l_{x_i}/T − log Σ_{u ∈ A_i} exp(l_u/T),   A_1 = S \\ {EOS},  A_i = S for i ≥ 2,
    log p(x | c) = Σ_{i ≤ n} log p_S(x_i | c, x_<i) + [n < L] log p_S(EOS | c, x_≤n).

`candidate_scores` returns, for a masked position t and every word w of S \\ {EOS}, log p(x with w at t | c)
exactly (the prefix factor Σ_{i<t} log p_S(x_i | ·), the factor at t with its normaliser, and the rescored suffix),
so that a mixture over prompts can be summed: p(x) = Σ_c π_c p(x | c). One pass over the sentence gives the
prefix's keys and values; the K' candidate suffixes (w, x_{t+1}, .., x_n) then attend to them
(flatness_jax.decoder.opt.Decoder.forward with `past`), in chunks of `chunk` candidates.

Sampling (`sample_chunk`) draws the prompt index from the prior π with fold_in(key, PROMPT_STREAM), runs the prompt
through the decoder once, then draws one token at a time against a key/value buffer (step s with fold_in(key, s));
with no prompt (P = 0) the draws are those of a sentence started at BOS.
"""
import functools

import jax
import jax.numpy as jnp

from flatness_jax.decoder.opt import CACHE_LAYOUT

PROMPT_STREAM = 1 << 30  # fold_in index of the prompt draw (token draws use 0..L−1)


def _first_step_normaliser(apply, hs, words, token_set, inv_temperature):
  """(logits over S [B, L, K], log-normaliser of each sentence step [B, L]) from hidden states hs [B, L, e] that
  predict steps 1..L; step 1 normalises over the words (EOS barred), later steps over S."""
  ls = apply(hs, token_set, method="logits") * inv_temperature
  lse = jax.nn.logsumexp(ls, -1)
  first = jax.nn.logsumexp(apply(hs[:, 0], words, method="logits") * inv_temperature, -1)
  return ls, lse.at[:, 0].set(first)


def _hidden(apply, z, n, prompt_len):
  """Hidden states [B, 1 + P + L − 1, e] and keys/values of z [B, 1 + P + L] (all but the last input)."""
  b, width = z.shape
  ar = jnp.arange(width - 1)
  h, kv = apply(z[:, None, :-1], jnp.broadcast_to(ar, (b, 1, width - 1)),
                (ar[None] <= prompt_len + n[:, None])[:, None], method="forward")
  return h[:, 0], kv


@functools.partial(jax.jit, static_argnames=("module", "prompt_len"))
def sentence_logliks(params, z, n, words, token_set, set_index, inv_temperature, *, module, prompt_len):
  """log p(x | c) [B] (module docstring) of the sentences in z [B, 1 + P + L] with lengths n [B]."""
  apply = functools.partial(module.apply, {"params": params})
  length = z.shape[1] - 1 - prompt_len
  h, _ = _hidden(apply, z, n, prompt_len)
  ls, lse = _first_step_normaliser(apply, h[:, prompt_len:], words, token_set, inv_temperature)
  steps = jnp.arange(length)[None]
  target = jnp.where(steps < n[:, None], z[:, prompt_len + 1:], module.cfg.eos_id)
  use = (steps < n[:, None]) | ((steps == n[:, None]) & (n[:, None] < length))
  picked = jnp.take_along_axis(ls, set_index[target][..., None], -1)[..., 0]
  return jnp.where(use, picked - lse, 0.0).sum(-1)


@functools.partial(jax.jit, static_argnames=("module", "window", "chunk", "prompt_len"))
def candidate_scores(params, z, n, t0, words, token_set, set_index, inv_temperature, *, module, window, chunk,
                     prompt_len):
  """log p(x with w at t0 | c) [B, K'] for every word w (module docstring).

  z [B, 1 + P + L]: BOS, the prompt, x_1..x_n, then PAD; n [B] lengths; t0 [B] 0-based masked positions (z index
  P + t0 + 1); `window` ≥ max(n − t0); `set_index` maps a decoder id to its index in `token_set` (S)."""
  apply = functools.partial(module.apply, {"params": params})
  b, width = z.shape
  length = width - 1 - prompt_len
  eos = module.cfg.eos_id
  rows = jnp.arange(b)
  h, kv = _hidden(apply, z, n, prompt_len)
  ls, lse = _first_step_normaliser(apply, h[:, prompt_len:], words, token_set, inv_temperature)
  picked = jnp.take_along_axis(ls, set_index[z[:, prompt_len + 1:]][..., None], -1)[..., 0]
  before = jnp.where(jnp.arange(length)[None] < t0[:, None], picked - lse, 0.0).sum(-1)        # [B]
  at = (apply(h[rows, prompt_len + t0], words, method="logits") * inv_temperature
        - lse[rows, t0][:, None])                                                              # [B, K']
  past = [(k[:, 0], v[:, 0]) for k, v in kv]
  masked = prompt_len + 1 + t0                                                                 # z index of x_t
  past_valid = jnp.arange(width - 1)[None] < masked[:, None]                                   # z_0..z_{masked−1}
  end = prompt_len + n[:, None]                                                                # z index of x_n
  idx = masked[:, None] + jnp.arange(window)[None]                                             # window's z indices
  in_range = idx <= end
  suffix = jnp.take_along_axis(z, jnp.minimum(idx, width - 1), 1)
  nxt = idx + 1                                                                                # what each predicts
  target = jnp.where(nxt <= end, jnp.take_along_axis(z, jnp.minimum(nxt, width - 1), 1), eos)
  use = (nxt <= end) | ((nxt == end + 1) & (n[:, None] < length))
  target_in_set = set_index[target]
  positions = jnp.minimum(idx, width - 1)

  def scores(cands):  # [C] candidate decoder ids -> [B, C]
    c = cands.shape[0]
    tokens = jnp.broadcast_to(suffix[:, None], (b, c, window)).at[:, :, 0].set(cands[None])
    hs, _ = apply(tokens, jnp.broadcast_to(positions[:, None], (b, c, window)),
                  jnp.broadcast_to(in_range[:, None], (b, c, window)), past=past, past_valid=past_valid,
                  method="forward")
    lw = apply(hs, token_set, method="logits") * inv_temperature                              # [B, C, W, K]
    tgt = jnp.take_along_axis(lw, jnp.broadcast_to(target_in_set[:, None, :, None], (b, c, window, 1)), -1)
    logp = tgt[..., 0] - jax.nn.logsumexp(lw, -1)
    return jnp.where(use[:, None], logp, 0.0).sum(-1)

  k = words.shape[0]
  chunks = -(-k // chunk)
  padded = jnp.concatenate([words, jnp.broadcast_to(words[:1], (chunks * chunk - k,))]).reshape(chunks, chunk)
  suffix_scores = jax.lax.map(scores, padded)                                                 # [chunks, B, C]
  return before[:, None] + at + jnp.moveaxis(suffix_scores, 0, 1).reshape(b, chunks * chunk)[:, :k]


@functools.partial(jax.jit, static_argnames=("module", "n", "length", "layout"))
def sample_chunk(params, key, cand, bias_first, bias_rest, eos_index, inv_temperature, prompts, log_prior, *,
                 module, n, length, layout=CACHE_LAYOUT):
  """(decoder ids [n, length] (−1 after the end), prompt indices [n]) of `n` sentences: the prompt drawn from
  log_prior [C] among prompts [C, P], then each step draws an index into `cand` from softmax(l[cand]/T + bias)
  (bias_first at the first token); index `eos_index` ends the sentence. `layout`: the key/value buffer's
  (flatness_jax.decoder.opt: CACHE_LAYOUT, or PAST_LAYOUT, the reference the tests and
  benchmarks/bench_lm_sampling.py compare it with; the same draws, bit for bit)."""
  cfg = module.cfg
  apply = functools.partial(module.apply, {"params": params})
  p = prompts.shape[1]
  total = p + length
  choice = jax.random.categorical(jax.random.fold_in(key, PROMPT_STREAM), log_prior, shape=(n,))
  prefix = jnp.concatenate([jnp.full((n, 1), cfg.bos_id, jnp.int32), prompts[choice]], axis=1)   # [n, P + 1]
  # The key/value buffer: keys [n, H, total, hd] and values [n, H, hd, total] in the cache layout, both
  # [n, total, H, hd] in PAST_LAYOUT.
  cache = layout == CACHE_LAYOUT
  heads, hd = cfg.num_heads, cfg.head_dim
  shapes = ((n, heads, total, hd), (n, heads, hd, total)) if cache else ((n, total, heads, hd),) * 2
  buf = [tuple(jnp.zeros(shape, module.dtype) for shape in shapes) for _ in range(cfg.num_layers)]
  if p:  # the prompt's keys and values [n, p, H, hd] into positions 0..p−1
    _, kv = apply(prefix[:, None, :p], jnp.broadcast_to(jnp.arange(p), (n, 1, p)), jnp.ones((n, 1, p), bool),
                  method="forward")
    if cache:
      buf = [(bk.at[:, :, :p].set(k[:, 0].transpose(0, 2, 1, 3)),
              bv.at[:, :, :, :p].set(v[:, 0].transpose(0, 2, 3, 1))) for (bk, bv), (k, v) in zip(buf, kv)]
    else:
      buf = [(bk.at[:, :p].set(k[:, 0]), bv.at[:, :p].set(v[:, 0])) for (bk, bv), (k, v) in zip(buf, kv)]
  ones = jnp.ones((n, 1, 1), bool)

  def step(carry, s):
    buf, token, done = carry
    t = p + s
    h, kv = apply(token[:, None, None], jnp.full((n, 1, 1), t), ones, past=buf,
                  past_valid=jnp.broadcast_to(jnp.arange(total) < t, (n, total)), past_layout=layout,
                  method="forward")
    key_at, value_at = ((slice(None), slice(None), t), (slice(None),) * 3 + (t,)) if cache else ((slice(None), t),) * 2
    buf = [(bk.at[key_at].set(k[:, 0, 0]), bv.at[value_at].set(v[:, 0, 0]))  # [n, H, hd] into position t
           for (bk, bv), (k, v) in zip(buf, kv)]
    logits = apply(h[:, 0, 0], cand, method="logits") * inv_temperature
    logits = logits + jnp.where(s == 0, bias_first, bias_rest)
    idx = jax.random.categorical(jax.random.fold_in(key, s), logits)
    done = done | (idx == eos_index)
    return (buf, cand[idx], done), jnp.where(done, -1, cand[idx])

  init = (buf, prefix[:, p], jnp.zeros((n,), bool))
  _, out = jax.lax.scan(step, init, jnp.arange(length))
  return out.T, choice.astype(jnp.int32)
