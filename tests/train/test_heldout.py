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
  np.testing.assert_allclose(s["gap"], diff.mean())
  np.testing.assert_allclose(s["gap_se"], diff.std(ddof=1) / np.sqrt(200))
  np.testing.assert_allclose(s["gap"], s["eval_loss"] - s["optimal_loss"], atol=1e-12)
  np.testing.assert_allclose(s["gap_relative"], s["gap"] / s["optimal_loss"])
  assert s["gap_se"] < s["eval_loss_se"] / 3  # pairing removes the sentence-to-sentence variation


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
