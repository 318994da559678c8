"""Masked-LM batches: the masked position is uniform over real tokens, padding is never masked, ids are right."""
import jax
import numpy as np
import scipy.stats

from flatness_jax.tokens import batching, vocab

V = 10
TOKENS = np.array([[1, 2, 3, 4, 5, -1, -1, -1],
                   [6, 7, -1, -1, -1, -1, -1, -1],
                   [8, 9, 0, 1, 2, 3, 4, 5],
                   [3, -1, -1, -1, -1, -1, -1, -1]], np.int32)
LENGTHS = np.array([5, 2, 8, 1], np.int32)
REPS = 2000  # the four sentences repeated: one call draws REPS independent maskings of each
TOK = np.tile(TOKENS, (REPS, 1))
LEN = np.tile(LENGTHS, REPS)
PADDED = np.where(np.arange(8) < LEN[:, None], TOK, vocab.pad_id(V))


def test_ids():
  assert (vocab.pad_id(V), vocab.mask_id(V), vocab.model_vocab_size(V)) == (10, 11, 12)


def test_model_inputs_pad_after_the_length_and_mask_nothing():
  out = np.asarray(jax.jit(batching.model_inputs, static_argnums=2)(TOKENS, LENGTHS, V))
  np.testing.assert_array_equal(out, np.where(np.arange(8) < LENGTHS[:, None], TOKENS, V))
  assert out.dtype == np.int32 and not np.any(out == vocab.mask_id(V))


def test_one_mask_batch():
  b = jax.jit(batching.one_mask_batch, static_argnums=3)(jax.random.key(0), TOK, LEN, V)
  inputs, pos, tgt = (np.asarray(b[k]) for k in ("inputs", "positions", "targets"))
  assert inputs.dtype == np.int32 and pos.dtype == np.int32 and tgt.dtype == np.int32
  rows = np.arange(len(TOK))
  np.testing.assert_array_equal(tgt, TOK[rows, pos])
  assert np.all(pos < LEN)  # padding never masked
  assert np.all(inputs[rows, pos] == vocab.mask_id(V))
  keep = np.ones_like(inputs, bool)
  keep[rows, pos] = False
  np.testing.assert_array_equal(inputs[keep], PADDED[keep])  # PAD after the length, words elsewhere
  for r, n in enumerate(LENGTHS):  # uniform over the real tokens
    counts = np.bincount(pos[r::4], minlength=8)
    assert counts[n:].sum() == 0
    if n > 1:
      assert scipy.stats.chisquare(counts[:n]).pvalue > 1e-3
  again = jax.jit(batching.one_mask_batch, static_argnums=3)(jax.random.key(0), TOK, LEN, V)
  np.testing.assert_array_equal(np.asarray(again["positions"]), pos)  # same key, same batch


def test_bert_mask_batch():
  rate = 0.5
  jitted = jax.jit(batching.bert_mask_batch, static_argnames=("vocab_size", "rate", "max_masks"))
  b = {k: np.asarray(v) for k, v in jitted(jax.random.key(2), TOK, LEN, vocab_size=V, rate=rate).items()}
  pos, tgt, used = b["positions"], b["targets"], b["weights"] > 0
  k_max = pos.shape[-1]
  assert k_max == 4 and b["weights"].dtype == np.float32  # ceil(0.5 · 8) slots
  np.testing.assert_array_equal(used.sum(-1), np.clip(np.round(rate * LEN), 1, k_max))  # half to even, as BERT
  assert np.all(pos < LEN[:, None]) and np.all(pos[~used] == 0) and np.all(tgt[~used] == 0)
  np.testing.assert_array_equal(tgt[used], np.take_along_axis(TOK, pos, -1)[used])
  assert all(len(set(p[u].tolist())) == u.sum() for p, u in zip(pos[:200], used[:200]))  # distinct positions
  # 80% MASK, 10% random word, 10% unchanged (a random word equals the original 1/V of the time).
  new = np.take_along_axis(b["inputs"], pos, -1)[used]
  n = len(new)
  assert abs(np.mean(new == vocab.mask_id(V)) - 0.8) < 4 * np.sqrt(0.16 / n)
  assert abs(np.mean(new == tgt[used]) - 0.11) < 4 * np.sqrt(0.1 / n)
  # Elsewhere the inputs are the padded sentences.
  inputs = b["inputs"].copy()
  np.put_along_axis(inputs, pos, np.take_along_axis(PADDED, pos, -1), -1)
  np.testing.assert_array_equal(inputs, PADDED)
  # Uniform choice of the masked tokens of the 5-token sentence.
  counts = np.bincount(pos[0::4][used[0::4]], minlength=8)
  assert counts[5:].sum() == 0 and scipy.stats.chisquare(counts[:5]).pvalue > 1e-3
  shapes = jax.eval_shape(lambda k: batching.bert_mask_batch(k, TOK, LEN, V, rate=rate, max_masks=3),
                          jax.random.key(2))
  assert shapes["positions"].shape == (len(TOK), 3)
