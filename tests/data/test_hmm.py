"""HMM languages against enumeration of every (state path, sentence) pair of a tiny HMM (float64)."""
import jax
import numpy as np
import pytest
import scipy.stats

from flatness_jax.data import brute_force, hmm


@pytest.fixture(scope="module")
def small():
  # 3 states, 3 words, 4 tokens: overlapping emissions, so posteriors are not trivial.
  return hmm.random_hmm("tiny", 1, num_states=3, vocab_size=3, transition_support=2, emission_support=2,
                        task_positions=(1, 3))


@pytest.fixture(scope="module")
def enumerated(small):
  joint = brute_force.hmm_joint(small)
  dist = {}
  for (_, words), p in joint.items():
    dist[words] = dist.get(words, 0.0) + p
  sents = sorted(dist)
  return joint, dist, sents, np.array(sents, np.int32), np.full(len(sents), small.length, np.int32)


def test_conditionals_and_likelihood_equal_enumeration(small, enumerated):
  _, dist, sents, tokens, lengths = enumerated
  assert abs(sum(dist.values()) - 1) < 1e-12
  lang = hmm.HMMLanguage(small, batch_size=7)
  cond = lang.masked_conditionals(tokens, lengths)
  for i, x in enumerate(sents):
    np.testing.assert_allclose(cond[i], brute_force.conditionals(dist, x, small.vocab_size), atol=1e-9)
  np.testing.assert_allclose(cond.sum(-1), 1.0, atol=1e-12)
  np.testing.assert_allclose(lang.log_likelihood(tokens, lengths), np.log([dist[x] for x in sents]), rtol=1e-10)


def test_padding_is_unobserved(small):
  # A sentence padded after 2 tokens behaves as a 2-token HMM sentence.
  joint2 = brute_force.hmm_joint(small, length=2)
  dist2 = {}
  for (_, words), p in joint2.items():
    dist2[words] = dist2.get(words, 0.0) + p
  x = next(iter(sorted(dist2)))
  cond = hmm.masked_conditionals(small, np.array([list(x) + [-1, -1]]), np.array([2]))
  np.testing.assert_allclose(cond[0, :2], brute_force.conditionals(dist2, x, small.vocab_size), atol=1e-9)
  np.testing.assert_array_equal(cond[0, 2:], 0.0)


def test_state_posteriors_and_bayes_accuracy(small, enumerated):
  joint, dist, sents, tokens, lengths = enumerated
  lang = hmm.HMMLanguage(small)
  px = np.array([dist[x] for x in sents])
  index = {x: i for i, x in enumerate(sents)}
  for k in small.task_positions:
    task = lang.tasks[f"state{k}"]
    exact = np.zeros((len(sents), small.num_states))  # P(x, h_k)
    for (states, words), p in joint.items():
      exact[index[words], states[k]] += p
    np.testing.assert_allclose(task.posterior(tokens, lengths), exact / px[:, None], atol=1e-9)
    np.testing.assert_allclose(task.prior, exact.sum(0), atol=1e-12)
    sample = hmm.Sample(tokens, lengths, None)
    preds = task.bayes_predictions(sample)
    np.testing.assert_allclose(exact[np.arange(len(sents)), preds].sum(), exact.max(1).sum(), atol=1e-12)


def test_sampling_matches_probabilities(small, enumerated):
  joint, _, _, _, _ = enumerated
  s = hmm.sample(small, 11, 20000)
  counts = {}
  for states, words in zip(s.latents, s.tokens):
    key = (tuple(states), tuple(words))
    counts[key] = counts.get(key, 0) + 1
  assert set(counts) <= set(joint)
  keys = sorted(joint)
  probs = np.array([joint[k] for k in keys])
  obs = np.array([counts.get(k, 0) for k in keys], float)
  big = probs * 20000 >= 5
  f_obs = np.r_[obs[big], obs[~big].sum()]
  f_exp = np.r_[probs[big], probs[~big].sum()] * 20000
  assert scipy.stats.chisquare(f_obs, f_exp).pvalue > 1e-3


def test_keys_and_presets():
  h = hmm.random_hmm("cpu", 0)
  for key in (5, jax.random.key(5), jax.random.PRNGKey(5)):
    a, b = hmm.sample(h, key, 32), hmm.sample(h, key, 32)
    assert a.tokens.tobytes() == b.tokens.tobytes() and a.latents.tobytes() == b.latents.tobytes()
  assert hmm.sample(h, 5, 32).tokens.tobytes() != hmm.sample(h, 6, 32).tokens.tobytes()
  assert hmm.random_hmm("cpu", 0).transition.tobytes() == h.transition.tobytes()
  assert hmm.random_hmm("cpu", 1).transition.tobytes() != h.transition.tobytes()
  p = hmm.random_hmm("paper", 0)
  assert (p.num_states, p.vocab_size, p.length, p.task_positions) == (100, 200, 16, (6, 10))
  assert np.all((p.transition > 0).sum(1) == 10) and np.allclose(p.transition.sum(1), 1)
  assert list(hmm.HMMLanguage(hmm.random_hmm("tiny", 0)).tasks) == ["state1", "state3"]
  with pytest.raises(ValueError, match="unknown hmm preset"):
    hmm.random_hmm("huge", 0)


def test_optimal_loss_exact_on_tiny(small, enumerated):
  _, dist, sents, tokens, lengths = enumerated
  cond = hmm.masked_conditionals(small, tokens, lengths)
  nll = -np.log(np.take_along_axis(cond, tokens[..., None], -1)[..., 0]).mean(1)
  exact = float(np.dot([dist[x] for x in sents], nll))
  r = hmm.HMMLanguage(small).optimal_loss(20000, 3)
  assert abs(r["optimal_loss"] - exact) < 4 * r["optimal_loss_se"]


def test_state_tasks_at_the_papers_positions_6_and_10_equal_enumeration(x64):
  """The experiments' HMM tasks (hidden state at positions 6 and 10 of 16-token sentences, as in the paper): on an
  11-token, 2-state HMM the posterior of h_6 and h_10 given each sampled sentence equals the sum over all 2^11
  state paths, the labels are the sampled states, and the Bayes prediction is the posterior argmax."""
  h = hmm.random_hmm("tiny", 3, num_states=2, vocab_size=3, length=11, transition_support=2, emission_support=2,
                     task_positions=(6, 10))
  lang = hmm.HMMLanguage(h)
  assert sorted(lang.tasks) == ["state10", "state6"]
  sample = lang.sample(0, 12)
  paths = np.array(np.meshgrid(*[[0, 1]] * 11, indexing="ij")).reshape(11, -1).T  # [2048, 11]
  prior = h.initial[paths[:, 0]] * np.prod(h.transition[paths[:, :-1], paths[:, 1:]], axis=1)
  for k in (6, 10):
    task = lang.tasks[f"state{k}"]
    post = task.posterior(sample.tokens, sample.lengths)
    np.testing.assert_array_equal(task.labels(sample), np.asarray(sample.latents)[:, k])
    for i, words in enumerate(sample.tokens):
      joint = prior * np.prod(h.emission[paths, words[None, :]], axis=1)
      exact = np.array([joint[paths[:, k] == s].sum() for s in (0, 1)]) / joint.sum()
      np.testing.assert_allclose(post[i], exact, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(task.bayes_predictions(sample), post.argmax(1))
