"""The LM language against enumeration of every sentence of a tiny random decoder (float64): exact masked
conditionals, the prompt task's posterior and Bayes accuracy, the sampler's frequencies (chi-square), the
one-position L* estimator, keyed sampling."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from flatness_jax.data import card, lm
from flatness_jax.decoder import hf_checkpoint, opt as decoder

SHAPE = dict(vocab_size=9, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, ffn_dim=16,
             max_position_embeddings=8)
# (decoder overrides, S as decoder ids, max_length, temperature, weight std, prompts); EOS = BOS = 2, PAD = 1. The
# weight scales put L* well inside (0, log K'): measured 0.82 and 0.57 nats (log K' = 1.39 and 1.10).
THREE_PROMPTS = lm.Prompts(np.array([[0, 3], [6, 6], [3, 0]], np.int32), np.array([0.5, 0.3, 0.2]))
CASES = {
    "eos_in_set": (dict(do_layer_norm_before=True), [2, 4, 5, 7, 8], 4, 1.0, 0.7, None),
    "no_eos_post_ln_projected": (dict(do_layer_norm_before=False, word_embed_proj_dim=6), [0, 5, 6], 4, 0.7, 0.5,
                                 None),
    "three_prompts": (dict(do_layer_norm_before=True), [2, 4, 5, 7, 8], 3, 1.0, 0.7, THREE_PROMPTS),
}


def tiny_language(case, dtype=jnp.float64, **kw):
  overrides, token_ids, length, temperature, std, prompts = CASES[case]
  cfg = hf_checkpoint.config_from_hf(dict(SHAPE, **overrides))
  rng = np.random.default_rng(7)
  params = jax.tree_util.tree_map_with_path(  # large weights: a peaked, context-dependent distribution
      lambda path, x: (path[-1].key == "scale") + std * rng.standard_normal(x.shape),
      hf_checkpoint.abstract_params(cfg))
  return lm.LMLanguage(cfg, params, token_ids, length, temperature, prompts=prompts, dtype=dtype, batch_size=16,
                       sample_batch=512, **kw)


def enumerate_joint(lang):
  """{(prompt, word tuple): π_c p(x | c)} from full forward passes of the decoder (OPTForCausalLM's function) over
  (BOS, prompt, x), restricted to S."""
  cfg, length, prompts = lang.decoder_config, lang.max_length, lang.prompts
  lengths = range(1, length + 1) if lang.eos_in_set else [length]
  sents = [x for n in lengths for x in itertools.product(range(lang.num_words), repeat=n)]
  p = prompts.length
  out = {}
  for c in range(prompts.count):
    z = np.full((len(sents), 1 + p + length), cfg.pad_id)
    z[:, 0] = cfg.bos_id
    z[:, 1:p + 1] = prompts.ids[c]
    for i, x in enumerate(sents):
      z[i, p + 1:p + 1 + len(x)] = lang.word_ids[list(x)]
    logits = np.asarray(jax.jit(lang.module.apply)({"params": lang.params}, jnp.asarray(z)), np.float64)
    logits = logits / lang.temperature
    s = lang.token_ids
    for i, x in enumerate(sents):
      logp = 0.0
      for j in range(len(x) + (len(x) < length)):  # x_1..x_n, then EOS if the sentence ended early
        allowed = s[s != cfg.eos_id] if j == 0 else s
        scores = logits[i, p + j, allowed]
        target = lang.word_ids[x[j]] if j < len(x) else cfg.eos_id
        logp += logits[i, p + j, target] - np.log(np.exp(scores - scores.max()).sum()) - scores.max()
      out[(c, x)] = prompts.prior[c] * np.exp(logp)
  return out


def marginal(joint):
  """{word tuple: p(x)}."""
  dist = {}
  for (_, x), p in joint.items():
    dist[x] = dist.get(x, 0.0) + p
  return dist


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
    joint = enumerate_joint(lang)
    yield lang, marginal(joint), joint


def test_masked_conditionals_equal_enumeration(enumerated, x64):
  lang, dist, _ = enumerated
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
  lang, _, joint = enumerated
  n = 20000
  sample = lang.sample(jax.random.key(3), n)
  assert sample.tokens.dtype == np.int32 and sample.tokens.shape == (n, lang.max_length)
  assert sample.lengths.min() >= 1 and np.all((sample.tokens >= 0) == (np.arange(lang.max_length) < sample.lengths[:, None]))
  np.testing.assert_array_equal(np.where(sample.tokens >= 0, lang.word_ids[np.maximum(sample.tokens, 0)], -1),
                                sample.latents.decoder_ids)
  cells = sorted(joint)  # (prompt, sentence): the prompt draw and the sentence given it, jointly
  index = {x: i for i, x in enumerate(cells)}
  counts = np.zeros(len(cells))
  for row, m, c in zip(sample.tokens, sample.lengths, sample.latents.prompt):
    counts[index[(int(c), tuple(row[:m]))]] += 1
  expected = n * np.array([joint[x] for x in cells])
  big = expected >= 5  # pool the rare sentences into one cell
  obs = np.append(counts[big], counts[~big].sum())
  exp = np.append(expected[big], expected[~big].sum())
  keep = exp > 0
  assert scipy.stats.chisquare(obs[keep], exp[keep]).pvalue > 1e-3


def test_one_position_estimate_of_optimal_loss_is_unbiased(enumerated, x64):
  lang, dist, _ = enumerated
  exact = sum(p * np.mean(-np.log(brute_conditionals(dist, x, lang.vocab_size)[np.arange(len(x)), list(x)]))
              for x, p in dist.items())
  est = lang.optimal_loss(3000, 11)
  assert est["optimal_loss_se"] > 0
  assert 0.3 < exact < np.log(lang.num_words) - 0.2
  assert abs(est["optimal_loss"] - exact) < 4 * est["optimal_loss_se"], (est, exact)


def test_same_key_same_bytes_and_chunking_of_candidates(enumerated, x64):
  lang, _, _ = enumerated
  a, b = lang.sample(jax.random.key(5), 700), lang.sample(jax.random.key(5), 700)
  np.testing.assert_array_equal(a.tokens, b.tokens)
  assert not np.array_equal(a.tokens, lang.sample(jax.random.key(6), 700).tokens)
  np.testing.assert_array_equal(lang.sample(5, 300).tokens, lang.sample(jax.random.key(5), 300).tokens)
  np.testing.assert_array_equal(lang.sample(5, 300).tokens, a.tokens[:300])  # chunk c always uses fold_in(key, c)
  chunked = lm.LMLanguage(lang.decoder_config, lang.params, lang.token_ids, lang.max_length, lang.temperature,
                          prompts=lang.prompts, dtype=jnp.float64, batch_size=16,
                          candidate_chunk=lang.num_words - 1)
  pos = np.maximum(a.lengths[:16] - 1, 0)
  np.testing.assert_allclose(chunked.position_conditionals(a.tokens[:16], a.lengths[:16], pos),
                             lang.position_conditionals(a.tokens[:16], a.lengths[:16], pos), atol=1e-12)


def test_prompt_posterior_and_ceilings_equal_enumeration(enumerated, x64):
  lang, dist, joint = enumerated
  if lang.prompts.count < 2:
    assert "prompt" not in lang.tasks  # one prompt: nothing to recover
    return
  task = lang.tasks["prompt"]
  sents = sorted(dist)
  tokens, lengths = padded(sents, lang.max_length)
  post = task.posterior(tokens, lengths)
  ref = np.array([[joint[(c, x)] / dist[x] for c in range(lang.prompts.count)] for x in sents])
  np.testing.assert_allclose(post, ref, atol=1e-9, rtol=0)
  assert 0.05 < ref.max(1).min() < 0.95  # some sentences leave the prompt uncertain: the task is not trivial
  bayes = sum(max(joint[(c, x)] for c in range(lang.prompts.count)) for x in sents)  # Σ_x max_c π_c p(x | c)
  np.testing.assert_allclose(task.prior, lang.prompts.prior)
  entry = card.compute_card(lang, 4000, 5)["tasks"]["prompt"]
  assert entry["majority_accuracy_exact"] == pytest.approx(0.5) and entry["majority_from"] == "exact prior"
  assert max(lang.prompts.prior) + 0.05 < bayes < 0.99
  assert abs(entry["bayes_accuracy"] - bayes) < 4 * entry["bayes_accuracy_se"], (entry, bayes)
  assert abs(entry["majority_accuracy"] - 0.5) < 4 * entry["majority_accuracy_se"]


def test_bad_prompts_are_refused():
  cfg = hf_checkpoint.config_from_hf(SHAPE)
  params = hf_checkpoint.abstract_params(cfg)
  for prompts, pattern in [(lm.Prompts.uniform([[0, 3], [0, 3]]), "distinct"),
                           (lm.Prompts.uniform([[0, 1], [0, 3]]), "other than PAD"),
                           (lm.Prompts(np.array([[0], [3]]), np.array([0.7, 0.7])), "sum to 1"),
                           (lm.Prompts.uniform([[0, 3, 4, 5], [3, 0, 4, 5]]), "needs 9 positions")]:
    with pytest.raises(ValueError, match=pattern):
      lm.LMLanguage(cfg, params, [2, 4, 5], 4, prompts=prompts)


def test_bad_sentences_are_refused():
  lang = tiny_language("no_eos_post_ln_projected", dtype=jnp.float32)
  tokens = np.zeros((2, 4), np.int32)
  with pytest.raises(ValueError, match="EOS is not in S"):
    lang.position_conditionals(tokens, np.array([4, 3]), np.array([0, 0]))
  with pytest.raises(ValueError, match="positions in"):
    lang.position_conditionals(tokens, np.array([4, 4]), np.array([0, 4]))
  with pytest.raises(ValueError, match="only the 3 words"):
    lang.position_conditionals(tokens + 3, np.array([4, 4]), np.array([0, 1]))


@pytest.mark.parametrize("case", ["three_prompts", "no_eos_post_ln_projected"])
def test_the_sampler_draws_the_same_sentences_with_either_buffer_layout(case):
  """float32, as the tiers sample: the cache layout (keys [B, H, P, hd], values [B, H, hd, P]) is a speed-up only."""
  lang = tiny_language(case, dtype=jnp.float32)
  for seed in range(3):
    draws = [lang.decoder_ids(jax.random.key(seed), 1024, layout)
             for layout in (decoder.CACHE_LAYOUT, decoder.PAST_LAYOUT)]
    for a, b in zip(*draws):
      np.testing.assert_array_equal(a, b)
