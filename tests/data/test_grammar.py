"""Loading grammars: the authors' released file, repairs with warnings, and a named error for each malformation."""
import re
import warnings

import numpy as np
import pytest

from flatness_jax.data import pcfg, reference
from flatness_jax.data.grammar import GrammarError, GrammarWarning
from flatness_jax.data.grammar_text import load_grammar

MIXED = """\
# a tiny grammar with lexical and binary rules on the same symbols, lengths 2..6
S S1 0.6
S S2 0.4
S1 A B 1.0
S2 B A 0.7
S2 B B 0.3
A C C 0.5
A x 0.3
A y 0.2
B C A 0.25
B y 0.5
B z 0.25
C x 0.6
C z 0.4
"""


def _write(tmp_path, text, name="g.txt"):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


def _load_quiet(path, **kw):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", GrammarWarning)
    return load_grammar(path, **kw)


def test_mixed_grammar_loads(tmp_path):
  g = load_grammar(_write(tmp_path, MIXED))
  assert g.nonterminals == ("S1", "S2", "A", "B", "C")
  assert g.words == ("x", "y", "z")
  np.testing.assert_allclose(g.start, [0.6, 0.4, 0, 0, 0])
  assert (g.min_length, g.max_length) == (2, 6)
  rows = g.lexical_mass + np.bincount(g.rule_lhs, g.rule_prob, minlength=g.num_nonterminals)
  np.testing.assert_allclose(rows, 1.0)


def test_duplicates_summed_and_rows_renormalised(tmp_path):
  text = "S A 1.0\nA B B 0.25\nA B B 0.25\nA w 0.4\nB w 0.5\nB v 0.5\n"
  with pytest.warns(GrammarWarning, match=r"renormalised 1 rule rows.*'A' at line 2"):
    g = load_grammar(_write(tmp_path, text))
  assert g.num_rules == 1
  np.testing.assert_allclose(g.rule_prob, [0.5 / 0.9])
  np.testing.assert_allclose(g.emission[0, g.words.index("w")], 0.4 / 0.9)


@pytest.mark.parametrize("text, line, pattern", [
    ("S A 1.0\nA w abc\n", 2, "bad probability 'abc'"),
    ("S A 1.0\nA w -0.1\n", 2, "bad probability"),
    ("S A 1.0\nA w 1.5\n", 2, "bad probability"),
    ("S A 1.0\nA w nan\n", 2, "bad probability"),
    ("S A 1.0\nA w\n", 2, "unknown rule arity"),
    ("S A 1.0\nA B C D 0.5\nA w 0.5\n", 2, "unknown rule arity"),
    ("S A 1.0\nA B C 0.5\nA w 0.5\nB w 1.0\n", 2, "non-terminating symbol 'C'"),
    ("S A 1.0\nA B B 0.5\nA w 0.5\nB B B 1.0\n", 4, "non-terminating symbol 'B'"),
    ("S A 1.0\nA A A 0.5\nA w 0.5\n", 2, "recursive rules"),
    ("S A 1.0\nA B 0.5\nA w 0.5\nB w 1.0\n", 2, "unary rule between non-terminals"),
    ("S A 1.0\nA S A 0.5\nA w 0.5\n", 2, "start symbol 'S' appears on a right-hand side"),
    ("A w 1.0\n", 1, "no start rules"),
    ("S w 1.0\nA w 1.0\n", 1, "start rules must be unary"),
    ("\n# only a comment\n\n", 1, "empty grammar file"),
    ("", 1, "empty grammar file"),
])
def test_malformed_named_errors(tmp_path, text, line, pattern):
  path = _write(tmp_path, text)
  with pytest.raises(GrammarError, match=re.escape(f"{path}:{line}:") + ".*" + pattern):
    _load_quiet(path)


def test_unreachable_symbol(tmp_path):
  text = "S A 1.0\nA w 1.0\nB A A 0.5\nB v 0.5\n"
  path = _write(tmp_path, text)
  with pytest.raises(GrammarError, match=re.escape(f"{path}:3:") + ".*unreachable symbol 'B'"):
    load_grammar(path, strict=True)
  with pytest.warns(GrammarWarning, match=r"dropped 1 unreachable non-terminal\(s\): 'B' \(line 3\)"):
    g = load_grammar(path)
  assert g.nonterminals == ("A",)


def test_grammar_error_is_value_error():
  assert issubclass(GrammarError, ValueError)


def test_released_grammar(released_grammar_path):
  with pytest.warns(GrammarWarning):
    g = load_grammar(released_grammar_path)
  with pytest.raises(GrammarError, match=r"rule_deep_mlm.txt:207: unreachable symbol 'A1_9'"):
    _load_quiet(released_grammar_path, strict=True)
  assert g.vocab_size == 200 and g.num_nonterminals == 48  # S1..S9 and A1..A4 x 10, less the unused A1_9
  assert (g.min_length, g.max_length, g.depth) == (2, 16, 4)
  lang = pcfg.PCFGLanguage(g)
  s = lang.sample(0, 64)
  assert s.lengths.min() >= 2 and s.lengths.max() <= 16
  cond = lang.masked_conditionals(s.tokens[:12], s.lengths[:12])
  real = np.arange(16) < s.lengths[:12, None]
  np.testing.assert_allclose(cond.sum(-1), real.astype(float), atol=1e-12)
  # An independent dense per-sentence inside–outside gives the same conditionals and likelihoods.
  rules = reference.dense_rules(g)
  ll = lang.log_likelihood(s.tokens[:6], s.lengths[:6])
  for i in range(6):
    words = s.tokens[i, :s.lengths[i]]
    np.testing.assert_allclose(cond[i, :s.lengths[i]], reference.masked_conditionals_dense(g, words, rules),
                               atol=1e-12)
    np.testing.assert_allclose(ll[i], reference.log_likelihood_dense(g, words, rules), rtol=1e-12)


def _chain(tmp_path, depth):
  """S → A0; A_i → A_{i+1} A_{i+1}; A_depth → w: every sentence has 2^depth tokens."""
  lines = ["S A0 1.0"] + [f"A{i} A{i + 1} A{i + 1} 1.0" for i in range(depth)] + [f"A{depth} w 1.0"]
  return _write(tmp_path, "\n".join(lines) + "\n")


def test_a_grammar_too_deep_to_sample_is_refused_before_sampling(tmp_path):
  path = _chain(tmp_path, 25)  # 27 lines; 2^26 − 1 tree nodes per sentence in the heap-order sampler
  with pytest.raises(GrammarError, match=rf"{re.escape(path)}: grammar depth 25 exceeds 10: sentences up to "
                                         r"33,554,432 tokens \(expected 3\.355e\+07\)"):
    load_grammar(path)
  g = load_grammar(_chain(tmp_path, 10))  # at the limit: loads, samples
  assert g.max_length == 1024 and pcfg.sample(g, 0, 2).lengths.tolist() == [1024, 1024]


@pytest.mark.parametrize("kind", ["binary", "directory", "latin1"])
def test_a_file_that_is_not_a_text_grammar_is_named(tmp_path, kind):
  path = tmp_path / "g"
  if kind == "binary":
    path.write_bytes(b"S A 1.0\n\x00\x01\x02")
    match = "a binary file (byte 8 is NUL)"
  elif kind == "directory":
    path.mkdir()
    match = "is a directory, not a grammar file"
  else:
    path.write_bytes("S A 1.0\nA caf\u00e9 1.0\n".encode("latin-1"))
    match = "not a UTF-8 text file (byte 13 cannot be decoded)"
  with pytest.raises(GrammarError, match=re.escape(f"{path}: {match}")):
    load_grammar(str(path))
