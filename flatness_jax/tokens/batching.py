"""Masked-LM batches from padded sentences (jax.numpy, jittable).

Model vocabulary (flatness_jax.data.vocab): words 0..V−1, PAD = V (positions past a sentence's length), MASK = V+1.
  * `model_inputs`: token ids with padding mapped to PAD and nothing masked, what a frozen encoder reads.
  * `one_mask_batch`: the paper's objective (Liu et al. 2023, §2): one position t per sentence, uniform over its
    real tokens, replaced by MASK; the target is the original word. The loss is −log f(x_{−t})_{x_t}.
  * `bert_mask_batch`: the authors' released code (BERT, Devlin et al. 2019): k = max(1, round(rate·n)) distinct
    positions per sentence (at most K = max_masks slots), uniform over its real tokens; each chosen token becomes
    MASK with probability 0.8, a uniformly random word with 0.1, and stays with 0.1. Unused slots have weight 0.
Padding is never masked. Tokens come as int [B, L] with anything (e.g. −1) past `lengths` [B].
"""
import math

import jax
import jax.numpy as jnp

from flatness_jax.tokens.vocab import mask_id, pad_id


def _padded(tokens, lengths, vocab_size):
  tokens = jnp.asarray(tokens, jnp.int32)
  valid = jnp.arange(tokens.shape[1])[None, :] < jnp.asarray(lengths)[:, None]
  return jnp.where(valid, tokens, pad_id(vocab_size)), valid


def model_inputs(tokens, lengths, vocab_size: int):
  """int32 [B, L]: `tokens` with every position at or past `lengths` set to PAD, no MASK (jittable)."""
  return _padded(tokens, lengths, vocab_size)[0]


def one_mask_batch(key, tokens, lengths, vocab_size: int) -> dict:
  """inputs int32 [B, L] (PAD after the length, MASK at one position), positions int32 [B], targets int32 [B]."""
  inputs, _ = _padded(tokens, lengths, vocab_size)
  lengths = jnp.asarray(lengths, jnp.int32)
  u = jax.random.uniform(key, lengths.shape)
  positions = jnp.minimum(jnp.floor(u * lengths).astype(jnp.int32), jnp.maximum(lengths - 1, 0))
  rows = jnp.arange(inputs.shape[0])
  targets = inputs[rows, positions]
  inputs = inputs.at[rows, positions].set(mask_id(vocab_size))
  return {"inputs": inputs, "positions": positions, "targets": targets}


def bert_mask_batch(key, tokens, lengths, vocab_size: int, rate: float = 0.15, max_masks=None) -> dict:
  """inputs [B, L], positions/targets int32 [B, K], weights float32 [B, K] (1 for used slots, 0 otherwise).

  K = max_masks, or ceil(rate·L) (at least 1). Unused slots have position 0, target 0 and weight 0.
  """
  inputs, valid = _padded(tokens, lengths, vocab_size)
  b, length = inputs.shape
  k_max = int(max_masks) if max_masks else max(1, math.ceil(rate * length))
  k_max = min(k_max, length)
  lengths = jnp.asarray(lengths, jnp.int32)
  k_order, k_kind, k_word = jax.random.split(key, 3)
  # A uniformly random order of each sentence's real tokens: sort uniform scores, padding last.
  scores = jnp.where(valid, jax.random.uniform(k_order, (b, length)), 2.0)
  order = jnp.argsort(scores, axis=1)[:, :k_max].astype(jnp.int32)
  count = jnp.clip(jnp.round(rate * lengths).astype(jnp.int32), 1, k_max)
  used = (jnp.arange(k_max)[None, :] < count[:, None]) & (jnp.arange(k_max)[None, :] < lengths[:, None])
  positions = jnp.where(used, order, 0)
  rows = jnp.arange(b)[:, None]
  targets = jnp.where(used, inputs[rows, positions], 0)
  kind = jax.random.uniform(k_kind, (b, k_max))
  random_words = jax.random.randint(k_word, (b, k_max), 0, vocab_size, jnp.int32)
  new = jnp.where(kind < 0.8, mask_id(vocab_size), jnp.where(kind < 0.9, random_words, targets))
  # Unused slots scatter out of range and are dropped.
  inputs = inputs.at[rows, jnp.where(used, positions, length)].set(new, mode="drop")
  return {"inputs": inputs, "positions": positions, "targets": targets, "weights": used.astype(jnp.float32)}
