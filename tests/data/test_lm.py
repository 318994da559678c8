"""The LM language against enumeration of every sentence of a tiny random decoder (float64): exact masked
conditionals, the sampler's frequencies (chi-square), the one-position L* estimator, keyed sampling."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from flatness_jax.data import lm
from flatness_jax.decoder import hf_checkpoint, opt as decoder

SHAPE = dict(vocab_size=9, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, ffn_dim=16,
             max_position_embeddings=8)
# (decoder overrides, S as decoder ids, max_length, temperature, weight std); EOS = BOS = 2, PAD = 1. The weight
# scales put L* well inside (0, log K'): measured 0.82 and 0.57 nats (log K' = 1.39 and 1.10).
CASES = {
    "eos_in_set": (dict(do_layer_norm_before=True), [2, 4, 5, 7, 8], 4, 1.0, 0.7),
    "no_eos_post_ln_projected": (dict(do_layer_norm_before=False, word_embed_proj_dim=6), [0, 5, 6], 4, 0.7, 0.5),
}


def tiny_language(case, dtype=jnp.float64, **kw):
  overrides, token_ids, length, temperature, std = CASES[case]
  cfg = hf_checkpoint.config_from_hf(dict(SHAPE, **overrides))
  rng = np.random.default_rng(7)
  params = jax.tree_util.tree_map_with_path(  # large weights: a peaked, context-dependent distribution
      lambda path, x: (path[-1].key == "scale") + std * rng.standard_normal(x.shape),
      hf_checkpoint.abstract_params(cfg))
  return lm.LMLanguage(cfg, params, token_ids, length, temperature, dtype=dtype, batch_size=16, sample_batch=512,
                       **kw)


def enumerate_sentences(lang):
  """{word tuple: p(x)} from full forward passes of the decoder (OPTForCausalLM's function), restricted to S."""
  cfg, length = lang.decoder_config, lang.max_length
  lengths = range(1, length + 1) if lang.eos_in_set else [length]
  sents = [x for n in lengths for x in itertools.product(range(lang.num_words), repeat=n)]
  z = np.full((len(sents), length + 1), cfg.pad_id)
  z[:, 0] = cfg.bos_id
  for i, x in enumerate(sents):
    z[i, 1:len(x) + 1] = lang.word_ids[list(x)]
  logits = np.asarray(jax.jit(lang.module.apply)({"params": lang.params}, jnp.asarray(z)), np.float64)
  logits = logits / lang.temperature
  s = lang.token_ids
  out = {}
  for i, x in enumerate(sents):
    logp = 0.0
    for j in range(len(x) + (len(x) < length)):  # x_1..x_n, then EOS if the sentence ended early
      allowed = s[s != cfg.eos_id] if j == 0 else s
      scores = logits[i, j, allowed]
      target = lang.word_ids[x[j]] if j < len(x) else cfg.eos_id
      logp += logits[i, j, target] - np.log(np.exp(scores - scores.max()).sum()) - scores.max()
    out[x] = np.exp(logp)
  return out


def brute_conditionals(dist, x, vocab):
  out = np.zeros((len(x), vocab))
  for t in range(len(x)):
    for w in range(vocab):
      out[t, w] = dist.get(x[:t] + (w,) + x[t + 1:], 0.0)
    out[t] /= out[t].sum()
  return out


def padded(sents, length):
  tokens = np.full((len(sents), length), -1, np.int32)
  for i, x in enumerate(sents):
    tokens[i, :len(x)] = x
  return tokens, np.array([len(x) for x in sents], np.int32)


@pytest.fixture(scope="module", params=sorted(CASES))
def enumerated(request):
  with jax.enable_x64(True):
    lang = tiny_language(request.param)
    dist = enumerate_sentences(lang)
    yield lang, dist


def test_masked_conditionals_equal_enumeration(enumerated, x64):
  lang, dist = enumerated
  assert abs(sum(dist.values()) - 1) < 1e-12  # the generative definition is a distribution
  probs = np.array(list(dist.values()))
  assert probs.max() > 5 * probs.mean()  # a peaked language, not a uniform one
  sents = sorted(dist)
  tokens, lengths = padded(sents, lang.max_length)
  cond = lang.masked_conditionals(tokens, lengths)
  assert cond.shape == (len(sents), lang.max_length, lang.vocab_size)
  worst = 0.0
  for i, x in enumerate(sents):
    ref = brute_conditionals(dist, x, lang.vocab_size)
    worst = max(worst, np.abs(cond[i, :len(x)] - ref).max())
    np.testing.assert_array_equal(cond[i, len(x):], 0.0)
  assert worst < 1e-9, worst
  real = np.arange(lang.max_length)[None] < lengths[:, None]
  np.testing.assert_allclose(cond.sum(-1)[real], 1.0, atol=1e-12)
  np.testing.assert_array_equal(cond[..., lang.unk_id], 0.0)
  # One position per sentence is the same number.
  pos = np.minimum(np.arange(len(sents)) % 3, lengths - 1)
  np.testing.assert_allclose(lang.position_conditionals(tokens, lengths, pos), cond[np.arange(len(sents)), pos],
                             atol=1e-12)


def test_sampler_frequencies_pass_chi_square(enumerated, x64):
  lang, dist = enumerated
  n = 20000
  sample = lang.sample(jax.random.key(3), n)
  assert sample.tokens.dtype == np.int32 and sample.tokens.shape == (n, lang.max_length)
  assert sample.lengths.min() >= 1 and np.all((sample.tokens >= 0) == (np.arange(lang.max_length) < sample.lengths[:, None]))
  np.testing.assert_array_equal(np.where(sample.tokens >= 0, lang.word_ids[np.maximum(sample.tokens, 0)], -1),
                                sample.latents)
  sents = sorted(dist)
  index = {x: i for i, x in enumerate(sents)}
  counts = np.zeros(len(sents))
  for row, m in zip(sample.tokens, sample.lengths):
    counts[index[tuple(row[:m])]] += 1
  expected = n * np.array([dist[x] for x in sents])
  big = expected >= 5  # pool the rare sentences into one cell
  obs = np.append(counts[big], counts[~big].sum())
  exp = np.append(expected[big], expected[~big].sum())
  keep = exp > 0
  assert scipy.stats.chisquare(obs[keep], exp[keep]).pvalue > 1e-3


def test_one_position_estimate_of_optimal_loss_is_unbiased(enumerated, x64):
  lang, dist = enumerated
  exact = sum(p * np.mean(-np.log(brute_conditionals(dist, x, lang.vocab_size)[np.arange(len(x)), list(x)]))
              for x, p in dist.items())
  est = lang.optimal_loss(3000, 11)
  assert est["optimal_loss_se"] > 0
  assert 0.3 < exact < np.log(lang.num_words) - 0.2
  assert abs(est["optimal_loss"] - exact) < 4 * est["optimal_loss_se"], (est, exact)


def test_same_key_same_bytes_and_chunking_of_candidates(enumerated, x64):
  lang, _ = enumerated
  a, b = lang.sample(jax.random.key(5), 700), lang.sample(jax.random.key(5), 700)
  np.testing.assert_array_equal(a.tokens, b.tokens)
  assert not np.array_equal(a.tokens, lang.sample(jax.random.key(6), 700).tokens)
  np.testing.assert_array_equal(lang.sample(5, 300).tokens, lang.sample(jax.random.key(5), 300).tokens)
  np.testing.assert_array_equal(lang.sample(5, 300).tokens, a.tokens[:300])  # chunk c always uses fold_in(key, c)
  chunked = lm.LMLanguage(lang.decoder_config, lang.params, lang.token_ids, lang.max_length, lang.temperature,
                          dtype=jnp.float64, batch_size=16, candidate_chunk=lang.num_words - 1)
  pos = np.maximum(a.lengths[:16] - 1, 0)
  np.testing.assert_allclose(chunked.position_conditionals(a.tokens[:16], a.lengths[:16], pos),
                             lang.position_conditionals(a.tokens[:16], a.lengths[:16], pos), atol=1e-12)


def test_bad_sentences_are_refused():
  lang = tiny_language("no_eos_post_ln_projected", dtype=jnp.float32)
  tokens = np.zeros((2, 4), np.int32)
  with pytest.raises(ValueError, match="EOS is not in S"):
    lang.position_conditionals(tokens, np.array([4, 3]), np.array([0, 0]))
  with pytest.raises(ValueError, match="positions in"):
    lang.position_conditionals(tokens, np.array([4, 4]), np.array([0, 4]))
  with pytest.raises(ValueError, match="only the 3 words"):
    lang.position_conditionals(tokens + 3, np.array([4, 4]), np.array([0, 1]))
