"""The chart's scaling decision (flatness_jax.data.inside_outside): unscaled charts equal scaled ones where the
floor bound allows them, the bound is below every derivation and every chart entry, and long sentences stay scaled."""
import warnings

import numpy as np
import pytest

from flatness_jax.data import brute_force, inside_outside, pcfg
from flatness_jax.data.grammar_text import load_grammar
from flatness_jax.data.random_grammar import balanced_grammar
from tests.data.test_grammar import MIXED


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
  path = tmp_path_factory.mktemp("g") / "mixed.txt"
  path.write_text(MIXED)
  return load_grammar(str(path))


@pytest.fixture
def released(released_grammar_path):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    return pcfg.load_grammar(released_grammar_path)


def _entries(chart):
  """Every chart value but the all-zero rows, as one flat array."""
  parts = [a[:-1].ravel() for a in chart.inside[1:] + chart.outside[1:] if a is not None]
  return np.concatenate(parts)


TIGHT = """\
# every minimum (start 0.2, rule 0.5, emission 0.25) sits in one derivation: S2 -> A A -> y y
S S1 0.8
S S2 0.2
S1 A A 1.0
S2 A A 0.5
S2 A B 0.5
A x 0.75
A y 0.25
B x 1.0
"""


def test_log_floor_is_attained_when_one_derivation_takes_every_minimum(tmp_path):
  """The bound is the least likely derivation shape itself: equal to it where that derivation exists."""
  path = tmp_path / "tight.txt"
  path.write_text(TIGHT)
  g = load_grammar(str(path))
  least = min(np.log(p) for p, _, _ in brute_force.pcfg_derivations(g))
  assert least == pytest.approx(np.log(0.2 * 0.5 * 0.25 ** 2), abs=1e-12)
  assert inside_outside.log_floor(g, g.max_length) == pytest.approx(least, abs=1e-12)


@pytest.mark.parametrize("which", ["tiny", "mixed"])
def test_log_floor_is_below_every_derivation_and_chart_entry(which, mixed):
  g = pcfg.random_grammar("tiny", 0) if which == "tiny" else mixed
  floor = inside_outside.log_floor(g, g.max_length)
  der = brute_force.pcfg_derivations(g)
  assert min(np.log(p) for p, _, _ in der) >= floor - 1e-9
  dist = brute_force.sentence_distribution(der)
  sents = sorted(dist)
  tokens = np.full((len(sents), g.max_length), -1, np.int32)
  for i, x in enumerate(sents):
    tokens[i, :len(x)] = x
  lengths = np.array([len(x) for x in sents])
  chart = inside_outside.compute_chart(g, tokens, lengths, scaled=False)
  values = _entries(chart)
  assert values[values > 0].min() >= np.exp(floor) * (1 - 1e-9)


@pytest.mark.parametrize("which", ["mixed", "released"])
def test_unscaled_chart_equals_the_scaled_one(which, request):
  g = request.getfixturevalue(which)
  s = pcfg.PCFGLanguage(g).sample(3, 96)
  assert not inside_outside.chart_plan(g, s.tokens.shape[1]).needs_scaling
  for pruned in (False, True):
    default = inside_outside.compute_chart(g, s.tokens, s.lengths, pruned=pruned)
    scaled = inside_outside.compute_chart(g, s.tokens, s.lengths, pruned=pruned, scaled=True)
    for scales in (default.inside_scale[1:], default.outside_scale[1:]):  # the default here: raw probabilities
      assert all(np.all(x[:-1] == 0) and x[-1] == inside_outside.NEG for x in scales if x is not None)
    np.testing.assert_allclose(inside_outside.conditionals_from_chart(g, default),
                               inside_outside.conditionals_from_chart(g, scaled), atol=1e-13)
    np.testing.assert_allclose(default.log_likelihood, scaled.log_likelihood, rtol=1e-12)
    if not pruned:  # what the tree-node and argmax tasks read
      np.testing.assert_allclose(inside_outside.leftmost_posteriors(g, default, 2),
                                 inside_outside.leftmost_posteriors(g, scaled, 2), atol=1e-12)
      widths = np.minimum(s.lengths, 3)
      unit = lambda x: x / np.maximum(x.max(1, keepdims=True), 1e-300)  # up to a per-sentence factor
      np.testing.assert_allclose(unit(inside_outside.prefix_inside(g, default, widths)),
                                 unit(inside_outside.prefix_inside(g, scaled, widths)), atol=1e-12)


def test_long_sentences_keep_the_scaling():
  # 256 tokens of 200 words: the bound is far below float64's range, so the default chart is scaled, and forcing
  # raw probabilities loses the sentences (p(x) underflows to 0).
  g256 = balanced_grammar(0, depth=8, nonterminals_per_level=(2,) * 9, rules_per_nonterminal=2, vocab_size=200,
                          emission_support=150)
  assert inside_outside.chart_plan(g256, g256.max_length).needs_scaling
  assert inside_outside.chart_plan(pcfg.random_grammar("paper", 0), 32).needs_scaling
  s = pcfg.sample(g256, 0, 2)
  cond = inside_outside.conditionals_from_chart(g256, inside_outside.compute_chart(g256, s.tokens, s.lengths))
  np.testing.assert_allclose(cond.sum(-1), 1.0, atol=1e-12)
  with np.errstate(all="ignore"):
    raw = inside_outside.compute_chart(g256, s.tokens, s.lengths, scaled=False)
  assert np.all(np.isneginf(raw.log_likelihood))


def test_leftmost_posteriors_of_a_one_word_sentence():
  """S emits a word itself or A A; A emits either word. For the sentence "x", the depth-0 node is S with
  probability 1 and no depth-1 node exists; for "x y" both depth-1 nodes are A (by enumeration)."""
  from flatness_jax.data.grammar import make_grammar  # pylint: disable=g-import-not-at-top
  g = make_grammar(("S", "A"), ("x", "y"), [1.0, 0.0], [(0, 1, 1, 0.5)], [[0.5, 0.0], [0.5, 0.5]])
  tokens = np.array([[0, 0], [0, 1]])
  lengths = np.array([1, 2])
  chart = inside_outside.compute_chart(g, tokens, lengths)
  np.testing.assert_allclose(inside_outside.leftmost_posteriors(g, chart, 0), [[1.0, 0.0], [1.0, 0.0]], atol=1e-12)
  np.testing.assert_allclose(inside_outside.leftmost_posteriors(g, chart, 1), [[0.0, 0.0], [0.0, 1.0]], atol=1e-12)
