"""PCFG languages against brute-force enumeration (float64): conditionals, likelihoods, sampling, task posteriors."""
import jax
import numpy as np
import pytest
import scipy.stats

from flatness_jax.data import brute_force, pcfg, reference
from flatness_jax.data.card import compute_card
from flatness_jax.data.grammar_text import load_grammar
from flatness_jax.data.random_grammar import balanced_grammar
from tests.data.test_grammar import MIXED


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
  path = tmp_path_factory.mktemp("g") / "mixed.txt"
  path.write_text(MIXED)
  return load_grammar(str(path))


@pytest.fixture(scope="module")
def tiny():
  return pcfg.random_grammar("tiny", 0)


def _support(g):
  """Every sentence with its probability, padded into arrays."""
  der = brute_force.pcfg_derivations(g)
  dist = brute_force.sentence_distribution(der)
  sents = sorted(dist)
  tokens = np.full((len(sents), g.max_length), -1, np.int32)
  for i, x in enumerate(sents):
    tokens[i, :len(x)] = x
  lengths = np.array([len(x) for x in sents], np.int32)
  return der, dist, sents, tokens, lengths


@pytest.mark.parametrize("which", ["tiny", "mixed"])
def test_conditionals_equal_enumeration(which, tiny, mixed):
  g = tiny if which == "tiny" else mixed
  _, dist, sents, tokens, lengths = _support(g)
  assert abs(sum(dist.values()) - 1) < 1e-12
  if which == "mixed":
    assert set(lengths) == {2, 3, 4, 5, 6}
  lang = pcfg.PCFGLanguage(g, batch_size=97)  # several batches, ragged lengths within each
  cond = lang.masked_conditionals(tokens, lengths)
  assert cond.dtype == np.float64 and cond.shape == (len(sents), g.max_length, g.vocab_size)
  for i, x in enumerate(sents):
    np.testing.assert_allclose(cond[i, :len(x)], brute_force.conditionals(dist, x, g.vocab_size), atol=1e-9)
  np.testing.assert_allclose(cond.sum(-1), (np.arange(g.max_length) < lengths[:, None]).astype(float), atol=1e-12)
  ll = lang.log_likelihood(tokens, lengths)
  np.testing.assert_allclose(ll, np.log([dist[x] for x in sents]), rtol=1e-10)


def test_sampling_matches_probabilities(mixed):
  _, dist, sents, _, _ = _support(mixed)
  s = pcfg.sample(mixed, 123, 20000)
  counts = {}
  for row, n in zip(s.tokens, s.lengths):
    assert np.all(row[n:] == -1)
    key = tuple(row[:n])
    counts[key] = counts.get(key, 0) + 1
  assert set(counts) <= set(dist)
  probs = np.array([dist[x] for x in sents])
  obs = np.array([counts.get(x, 0) for x in sents], float)
  big = probs * len(s.tokens) >= 5  # pool rare sentences into one cell
  f_obs = np.r_[obs[big], obs[~big].sum()]
  f_exp = np.r_[probs[big], probs[~big].sum()] * len(s.tokens)
  assert scipy.stats.chisquare(f_obs, f_exp).pvalue > 1e-3


def test_trees_are_consistent(mixed):
  s = pcfg.sample(mixed, 7, 500)
  t = s.latents
  np.testing.assert_array_equal(t.starts[:, 0], 0)
  np.testing.assert_array_equal(t.ends[:, 0], s.lengths)
  for row in range(50):
    for node in np.flatnonzero(t.labels[row] >= 0):
      if t.words[row, node] >= 0:  # a pre-terminal covers one token, the word it emitted
        assert t.ends[row, node] - t.starts[row, node] == 1
        assert s.tokens[row, t.starts[row, node]] == t.words[row, node]
        assert mixed.emission[t.labels[row, node], t.words[row, node]] > 0
      else:
        left, right = 2 * node + 1, 2 * node + 2
        assert (t.starts[row, left], t.ends[row, left], t.ends[row, right]) == (
            t.starts[row, node], t.starts[row, right], t.ends[row, node])


@pytest.mark.parametrize("which", ["tiny", "mixed"])
def test_node_posteriors_and_bayes_accuracy_equal_enumeration(which, tiny, mixed):
  g = tiny if which == "tiny" else mixed
  der, dist, sents, tokens, lengths = _support(g)
  lang = pcfg.PCFGLanguage(g)
  px = np.array([dist[x] for x in sents])
  for name, depth in (("A", 0), ("B", 1), ("C", 2)):
    task = lang.tasks[name]
    joint = brute_force.label_joint(der, depth)
    classes = [g.nonterminals.index(c) if c != "absent" else -1 for c in task.class_names]
    exact = np.array([[joint.get((x, a), 0.0) for a in classes] for x in sents])  # P(x, label)
    np.testing.assert_allclose(task.posterior(tokens, lengths), exact / px[:, None], atol=1e-9)
    np.testing.assert_allclose(task.prior, exact.sum(0), atol=1e-12)
    preds = lang.batched(lambda t, l, task=task: task.posterior(t, l).argmax(1), tokens, lengths)
    ours = exact[np.arange(len(sents)), preds].sum()  # exact expected accuracy of our Bayes predictions
    np.testing.assert_allclose(ours, exact.max(1).sum(), atol=1e-12)  # = Σ_x max_l P(x, l), the Bayes accuracy
    # The Monte Carlo estimate reported by the data card agrees within its standard error.
    if name == "A":
      card = compute_card(lang, 4000, sample_seed=5)
      est, se = card["tasks"]["A"]["bayes_accuracy"], card["tasks"]["A"]["bayes_accuracy_se"]
      assert abs(est - exact.max(1).sum()) < 4 * se + 1e-9
      assert abs(card["tasks"]["A"]["majority_accuracy_exact"] - exact.sum(0).max()) < 1e-12


def test_argmax_labels_match_dense_inside(mixed):
  _, _, sents, tokens, lengths = _support(mixed)
  lang = pcfg.PCFGLanguage(mixed)
  sample = pcfg.Sample(tokens, lengths, None)
  rules = reference.dense_rules(mixed)
  for name, prefix in (("A_argmax", 0), ("B_argmax", mixed.max_length // 4), ("C_argmax", mixed.max_length // 8)):
    if name not in lang.tasks:
      continue
    task = lang.tasks[name]
    classes = [mixed.nonterminals.index(c) for c in task.class_names]
    labels = task.labels(sample)
    for i, x in enumerate(sents):
      beta, _ = reference.inside_outside_dense(mixed, x, rules)
      w = len(x) if prefix == 0 else min(prefix, len(x))
      scores = np.where(mixed.yield_lengths[classes, w], beta[0, w, classes], -1.0)
      assert labels[i] == np.argmax(scores)
    np.testing.assert_array_equal(task.bayes_predictions(sample), labels)


def test_same_key_same_bytes(tiny):
  for key in (3, jax.random.key(3), jax.random.PRNGKey(3)):
    a, b = pcfg.sample(tiny, key, 64), pcfg.sample(tiny, key, 64)
    assert a.tokens.tobytes() == b.tokens.tobytes() and a.latents.labels.tobytes() == b.latents.labels.tobytes()
    assert a.tokens.dtype == np.int32 and a.lengths.dtype == np.int32
  tokens = lambda key: pcfg.sample(tiny, key, 64).tokens.tobytes()  # pylint: disable=unnecessary-lambda-assignment
  assert tokens(3) != tokens(4) and tokens(jax.random.key(3)) != tokens(jax.random.key(4))
  grammar = lambda seed: pcfg.random_grammar("cpu_easy", seed).rule_prob.tobytes()  # pylint: disable=g-long-lambda
  assert grammar(1) == grammar(1) and grammar(1) != grammar(2)


def test_long_sentences_are_stable():
  # 64 tokens: equal to the raw-probability dense reference.
  g64 = balanced_grammar(0, depth=6, nonterminals_per_level=(2,) * 7, rules_per_nonterminal=3, vocab_size=5,
                         emission_support=3)
  s = pcfg.sample(g64, 0, 2)
  cond = pcfg.masked_conditionals(g64, s.tokens, s.lengths)
  rules = reference.dense_rules(g64)
  for i in range(2):
    np.testing.assert_allclose(cond[i], reference.masked_conditionals_dense(g64, s.tokens[i], rules), atol=1e-9)
  # 256 tokens of 200 words: p(x) underflows float64, the scaled chart does not.
  g256 = balanced_grammar(0, depth=8, nonterminals_per_level=(2,) * 9, rules_per_nonterminal=2, vocab_size=200,
                          emission_support=150)
  lang = pcfg.PCFGLanguage(g256)
  s = lang.sample(0, 2)
  cond = lang.masked_conditionals(s.tokens, s.lengths)
  assert np.all(np.isfinite(cond))
  np.testing.assert_allclose(cond.sum(-1), 1.0, atol=1e-12)
  assert np.all(lang.log_likelihood(s.tokens, s.lengths) < -745)  # below the smallest float64


def test_optimal_loss(tiny):
  _, dist, sents, tokens, lengths = _support(tiny)
  cond = pcfg.masked_conditionals(tiny, tokens, lengths)
  nll = -np.log(np.take_along_axis(cond, tokens[..., None], -1)[..., 0]).sum(1)
  exact = float(np.sum([dist[x] * v / len(x) for x, v in zip(sents, nll)]))
  r = pcfg.optimal_loss(tiny, 20000, seed=0)
  assert set(r) >= {"optimal_loss", "optimal_loss_se", "optimal_loss_token_weighted",
                    "optimal_loss_token_weighted_se"}
  assert abs(r["optimal_loss"] - exact) < 4 * r["optimal_loss_se"]
  # Fixed length: the token-weighted loss is the same number.
  np.testing.assert_allclose(r["optimal_loss_token_weighted"], r["optimal_loss"])


def test_presets_have_their_shapes():
  for name, (v, length) in {"paper": (200, 32), "cpu_easy": (50, 16), "cpu_hard": (50, 16), "tiny": (6, 4)}.items():
    g = pcfg.random_grammar(name, 0)
    assert (g.vocab_size, g.max_length, g.min_length) == (v, length, length)
  assert pcfg.random_grammar("paper", 0).num_nonterminals <= 50
  with pytest.raises(ValueError, match="unknown pcfg preset"):
    pcfg.random_grammar("huge", 0)


def test_dense_references_agree(mixed):
  _, _, sents, tokens, lengths = _support(mixed)
  cond = pcfg.masked_conditionals(mixed, tokens, lengths)
  for i in range(0, len(sents), 7):
    x = sents[i]
    for naive in (False, True):
      np.testing.assert_allclose(reference.masked_conditionals_dense(mixed, x, naive=naive), cond[i, :len(x)],
                                 atol=1e-12)


def _tree_nodes(g, max_count=20_000):
  """{n: {(A, i, k)}}: the nodes of every derivation of nonzero probability, by sentence length (enumeration)."""

  def derive(a, depth=0):
    out = [(1, frozenset({(a, 0, 1)})) for w in range(g.vocab_size) if g.emission[a, w] > 0][:1]
    if depth < g.max_length:
      for r in np.flatnonzero(g.rule_lhs == a):
        for nl, left in derive(int(g.rule_left[r]), depth + 1):
          for nr, right in derive(int(g.rule_right[r]), depth + 1):
            if nl + nr <= g.max_length:
              shifted = frozenset((s, i + nl, k + nl) for s, i, k in right)
              out.append((nl + nr, left | shifted | {(a, 0, nl + nr)}))
    assert len(out) < max_count
    return out

  nodes = {}
  for a in np.flatnonzero(g.start > 0):
    for n, tree in derive(int(a)):
      nodes.setdefault(n, set()).update(tree)
  return nodes


@pytest.mark.parametrize("which", ["tiny", "mixed"])
def test_reachable_spans_are_the_nodes_of_derivations(which, tiny, mixed):
  # R_n (a symbol over a span can be a node of some derivation of a length-n sentence) against enumeration of
  # every tree shape (one word per leaf: reachability depends on the lengths only).
  g = tiny if which == "tiny" else mixed
  from flatness_jax.data import inside_outside  # pylint: disable=g-import-not-at-top
  plan = inside_outside.chart_plan(g, g.max_length)
  nodes = _tree_nodes(g)
  for n in range(1, g.max_length + 1):
    reach = plan.reachable(n)
    got = {(a, i, i + w) for w in range(1, n + 1) for i, a in zip(*np.nonzero(reach[w]))}
    assert got == nodes.get(n, set()), n


def test_pruned_chart_matches_the_full_one_on_the_released_grammar(released_grammar_path):
  # The authors' grammar: spans wider than 4 exist only as prefixes or suffixes, so the pruned chart keeps about
  # half the rows; conditionals and likelihoods are unchanged (and match the dense per-sentence reference).
  import warnings  # pylint: disable=g-import-not-at-top
  from flatness_jax.data import inside_outside  # pylint: disable=g-import-not-at-top
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    g = pcfg.load_grammar(released_grammar_path)
  s = pcfg.PCFGLanguage(g).sample(5, 256)
  full = inside_outside.compute_chart(g, s.tokens, s.lengths)
  pruned = inside_outside.compute_chart(g, s.tokens, s.lengths, pruned=True)
  rows = [sum(len(x) for x in c.start[1:]) for c in (full, pruned)]
  assert rows[1] < 0.7 * rows[0]
  assert len(pruned.start[16]) == np.sum(s.lengths == 16)  # width 16: the roots only
  cond = inside_outside.conditionals_from_chart(g, pruned)
  np.testing.assert_allclose(cond, inside_outside.conditionals_from_chart(g, full), atol=1e-12)
  np.testing.assert_allclose(pruned.log_likelihood, full.log_likelihood, rtol=1e-12)
  rules = reference.dense_rules(g)
  for i in range(8):
    x = s.tokens[i, :s.lengths[i]]
    np.testing.assert_allclose(cond[i, :len(x)], reference.masked_conditionals_dense(g, x, rules), atol=1e-9)
  lang = pcfg.PCFGLanguage(g)
  np.testing.assert_allclose(lang.masked_conditionals(s.tokens, s.lengths), cond, atol=1e-12)  # the default path


def test_conditionals_reuse_a_cached_full_chart(mixed):
  lang = pcfg.PCFGLanguage(mixed)
  s = lang.sample(1, 64)
  full = lang.chart(s.tokens, s.lengths)  # what the tasks use
  assert lang.chart(s.tokens, s.lengths, pruned=True) is full
  lang._cache = (None, None)  # pylint: disable=protected-access
  pruned = lang.chart(s.tokens, s.lengths, pruned=True)
  assert lang.chart(s.tokens, s.lengths) is not pruned  # the tasks need the full chart
