"""The held-out gap: exact optimal losses of the pairs, the paired gap and its SE, batching that changes nothing."""
import numpy as np

from flatness_jax import data as data_lib
from flatness_jax.data import brute_force
from flatness_jax.train import heldout

LANG = data_lib.make_language({"kind": "pcfg", "preset": "tiny", "seed": 0})


def test_optimal_losses_are_the_exact_conditionals_of_the_pairs(x64):
  h = heldout.make_heldout(LANG, 64, seed=3)
  dist = brute_force.sentence_distribution(brute_force.pcfg_derivations(LANG.grammar))
  mask = LANG.vocab_size + 1
  for i in range(64):
    words = tuple(int(w) for w in h.inputs[i] if w < LANG.vocab_size or w == mask)
    t = int(h.positions[i])
    sentence = words[:t] + (int(h.targets[i]),) + words[t + 1:]
    cond = brute_force.conditionals(dist, sentence, LANG.vocab_size)
    np.testing.assert_allclose(h.optimal_nll[i], -np.log(cond[t, h.targets[i]]), rtol=1e-9)
    assert h.bayes_correct[i] == (cond[t].argmax() == h.targets[i])


def test_summary_is_the_paired_difference():
  h = heldout.make_heldout(LANG, 200, seed=1)
  rng = np.random.default_rng(0)
  nll = h.optimal_nll + 0.1 + 0.05 * rng.standard_normal(200)
  s = heldout.summarize(h, nll, rng.random(200) < 0.5)
  diff = nll - h.optimal_nll
  np.testing.assert_allclose(s.gap, diff.mean())
  np.testing.assert_allclose(s.gap_se, diff.std(ddof=1) / np.sqrt(200))
  np.testing.assert_allclose(s.gap, s.eval_loss - s.optimal_loss, atol=1e-12)
  np.testing.assert_allclose(s.gap_relative, s.gap / s.optimal_loss)
  assert s.gap_se < s.eval_loss_se / 3  # pairing removes the sentence-to-sentence variation
  # Delta method for the ratio of two means over the same pairs: var of d − R·ℓ*.
  r = diff.mean() / h.optimal_nll.mean()
  np.testing.assert_allclose(s.gap_relative_se, (diff - r * h.optimal_nll).std(ddof=1) / np.sqrt(200)
                             / h.optimal_nll.mean(), rtol=1e-12)


def test_relative_gap_interval_covers(x64):
  """The delta-method SE of gap / L* is calibrated: over 2,000 fresh held-out sets its 95% interval covers the
  ratio of the population means (here known by construction) at the nominal rate, where gap_se / L* (which ignores
  the error of L*) undercovers when the excess loss of a pair does not grow with its optimal loss."""
  rng = np.random.default_rng(0)
  n, trials = 100, 2000
  hits_delta = hits_naive = 0
  for _ in range(trials):
    opt = rng.gamma(2.0, 1.0, n)                     # ℓ*ᵢ, mean 2
    nll = opt + 0.2 + 0.05 * rng.standard_normal(n)  # excess 0.2 nats on every pair: R = 0.2 / 2 = 0.1
    h = heldout.HeldOut(np.zeros((n, 2), np.int32), np.zeros(n, np.int32), np.zeros(n, np.int32), opt,
                        np.zeros(n, bool))
    s = heldout.summarize(h, nll, np.zeros(n, bool))
    hits_delta += abs(s.gap_relative - 0.1) <= 1.96 * s.gap_relative_se
    hits_naive += abs(s.gap_relative - 0.1) <= 1.96 * s.gap_se / s.optimal_loss
  assert 0.93 <= hits_delta / trials <= 0.97, hits_delta / trials
  assert hits_naive / trials < 0.5, hits_naive / trials


def test_evaluate_pads_the_last_batch_without_changing_results():
  h = heldout.make_heldout(LANG, 70, seed=2)
  calls = []

  def eval_fn(params, inputs, positions, targets):
    calls.append(len(targets))
    return (inputs.sum(1) * 1e-3 + positions).astype(np.float32), targets % 2 == 0

  out = heldout.evaluate(eval_fn, None, h, 32, np.asarray)
  assert calls == [32, 32, 32]  # one compiled shape: the last batch of 6 is padded to 32
  ref = heldout.summarize(h, (h.inputs.sum(1) * 1e-3 + h.positions).astype(np.float32), h.targets % 2 == 0)
  assert out == ref
