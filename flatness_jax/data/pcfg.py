"""PCFG languages: grammars (loaded or random), keyed vectorised sampling, exact conditionals, optimal loss, tasks.

The public face of the PCFG data layer (Liu et al. 2023, §2 and §5):
  * `Grammar`, `GrammarError` (flatness_jax.data.grammar): CNF grammars as sparse arrays; `load_grammar`
    (flatness_jax.data.grammar_text): the authors' text format; `balanced_grammar`, `random_grammar(preset, seed)`, `PRESETS`
    (flatness_jax.data.random_grammar).
  * `sample(grammar, key, n)`: sentences and their trees. Sampling is top-down, one numpy step per tree level for
    the whole batch: every node of a level draws its rule (binary, or a word) by inverse-CDF from its
    non-terminal's outcome table. Trees are stored in heap order (root 0; children of i are 2i+1, 2i+2), so the
    leftmost node at depth d is node 2^d − 1.
  * `masked_conditionals(grammar, tokens, lengths)`: exact p(x_t = w | x_{−t}) by batched inside–outside
    (flatness_jax.data.inside_outside).
  * `optimal_loss(grammar, num_sentences, seed)` and `PCFGLanguage` (the `Language` interface, with the tasks of
    flatness_jax.data.pcfg_tasks).
"""
import functools
from typing import NamedTuple

import numpy as np

from flatness_jax.data import inside_outside
from flatness_jax.data import pcfg_tasks
# pylint: disable=unused-import  (re-exported: the public face of the PCFG data layer)
from flatness_jax.data.grammar import Grammar, GrammarError, GrammarWarning
from flatness_jax.data.grammar_text import load_grammar
from flatness_jax.data.language import Language, Sample, batch_digest, numpy_rng
from flatness_jax.data.random_grammar import PRESETS, balanced_grammar, random_grammar
# pylint: enable=unused-import


class Tree(NamedTuple):
  """Generating trees in heap order, int32 [n, 2^(depth+1) − 1]; −1 where a node does not exist."""
  labels: np.ndarray  # non-terminal of the node
  starts: np.ndarray  # first token of its span
  ends: np.ndarray    # one past the last token of its span
  words: np.ndarray   # the word a pre-terminal node emits (−1 for binary nodes)


class _Outcomes(NamedTuple):
  is_word: np.ndarray  # bool [N, K]
  index: np.ndarray    # int [N, K]: rule id or word id
  cum_flat: np.ndarray  # float64 [N*K]: cumulative probabilities + row id (for one global searchsorted)
  count: np.ndarray    # int [N]: outcomes per row
  width: int


@functools.lru_cache(maxsize=16)
def _outcomes(grammar: Grammar) -> _Outcomes:
  n = grammar.num_nonterminals
  rows = []
  for a in range(n):
    rules = np.flatnonzero(grammar.rule_lhs == a)
    words = np.flatnonzero(grammar.emission[a] > 0)
    probs = np.concatenate([grammar.rule_prob[rules], grammar.emission[a, words]])
    rows.append((np.r_[np.zeros(len(rules), bool), np.ones(len(words), bool)], np.r_[rules, words], probs))
  k = max(len(r[2]) for r in rows)
  is_word = np.zeros((n, k), bool)
  index = np.zeros((n, k), np.int64)
  cum = np.ones((n, k))
  count = np.zeros(n, np.int64)
  for a, (w, idx, p) in enumerate(rows):
    c = len(p)
    is_word[a, :c], index[a, :c], count[a] = w, idx, c
    cum[a, :c] = np.cumsum(p) / p.sum()
    cum[a, c - 1:] = 1.0
  return _Outcomes(is_word, index, (cum + np.arange(n)[:, None]).ravel(), count, k)


def _draw(table: _Outcomes, labels: np.ndarray, u: np.ndarray) -> np.ndarray:
  """Outcome index per node: inverse CDF of row `labels` at uniforms `u` (one searchsorted for all rows)."""
  pos = np.searchsorted(table.cum_flat, labels + u, side="right") - labels * table.width
  return np.clip(pos, 0, table.count[labels] - 1)


def _categorical(rng, probs, n):
  cum = np.cumsum(probs) / np.sum(probs)
  cum[-1] = 1.0
  return np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(probs) - 1)


def sample(grammar: Grammar, key, n: int) -> Sample:
  """`n` sentences and their trees; `key` an int seed or jax PRNG key (same key, same bytes).

  Returns Sample(tokens int32 [n, max_length] padded with −1, lengths int32 [n], latents: Tree).
  """
  rng = numpy_rng(key)
  table = _outcomes(grammar)
  depth, length = grammar.depth, grammar.max_length
  num_nodes = 2 ** (depth + 1) - 1
  labels = np.full((n, num_nodes), -1, np.int64)
  words = np.full((n, num_nodes), -1, np.int64)
  labels[:, 0] = _categorical(rng, grammar.start, n)
  for d in range(depth + 1):
    lo, hi = 2 ** d - 1, 2 ** (d + 1) - 1
    lab = labels[:, lo:hi]
    present = lab >= 0
    labc = np.where(present, lab, 0)
    k = _draw(table, labc, rng.random(lab.shape))
    is_word = present & table.is_word[labc, k]
    idx = table.index[labc, k]
    words[:, lo:hi] = np.where(is_word, idx, -1)
    if d < depth:
      is_rule = present & ~is_word
      ridx = np.where(is_rule, idx, 0)
      left = np.where(is_rule, grammar.rule_left[ridx], -1)
      right = np.where(is_rule, grammar.rule_right[ridx], -1)
      labels[:, hi:2 * hi + 1] = np.stack([left, right], -1).reshape(n, -1)
    elif np.any(present & ~is_word):
      raise GrammarError("a node at the deepest level drew a binary rule (grammar depth is inconsistent)")
  # Leaves left to right: a node at depth d, slot s covers bottom slots from s·2^(depth−d).
  node_depth = np.floor(np.log2(np.arange(num_nodes) + 1)).astype(np.int64)
  slot = np.arange(num_nodes) - (2 ** node_depth - 1)
  key_pos = slot << (depth - node_depth)
  is_leaf = words >= 0
  order = np.argsort(np.where(is_leaf, key_pos, num_nodes * 2 ** depth), axis=1, kind="stable")
  lengths = is_leaf.sum(1)
  tokens = np.take_along_axis(words, order, 1)[:, :length]
  if tokens.shape[1] < length:
    tokens = np.pad(tokens, ((0, 0), (0, length - tokens.shape[1])), constant_values=-1)
  tokens = np.where(np.arange(length) < lengths[:, None], tokens, -1)
  # Spans: leaf counts bottom-up, starts top-down.
  count = is_leaf.astype(np.int64)
  for d in range(depth - 1, -1, -1):
    lo, hi = 2 ** d - 1, 2 ** (d + 1) - 1
    count[:, lo:hi] += count[:, hi:2 * hi + 1].reshape(n, -1, 2).sum(-1)
  starts = np.zeros((n, num_nodes), np.int64)
  for d in range(depth):
    lo, hi = 2 ** d - 1, 2 ** (d + 1) - 1
    kids = np.stack([starts[:, lo:hi], starts[:, lo:hi] + count[:, hi:2 * hi + 1:2]], -1).reshape(n, -1)
    starts[:, hi:2 * hi + 1] = kids
  present = labels >= 0
  tree = Tree(labels=labels.astype(np.int32), starts=np.where(present, starts, -1).astype(np.int32),
              ends=np.where(present, starts + count, -1).astype(np.int32), words=words.astype(np.int32))
  return Sample(tokens=tokens.astype(np.int32), lengths=lengths.astype(np.int32), latents=tree)


def masked_conditionals(grammar: Grammar, tokens, lengths, batch_size: int = 512) -> np.ndarray:
  """Exact p(x_t = w | x_{−t}) float64 [n, L, V] (zeros at padding), by batched inside–outside."""
  return PCFGLanguage(grammar, batch_size=batch_size).masked_conditionals(tokens, lengths)


def optimal_loss(grammar: Grammar, num_sentences: int, seed) -> dict:
  """L* (sentence-weighted, the paper's) and the token-weighted L*, with SEs (see flatness_jax.data.language)."""
  return PCFGLanguage(grammar).optimal_loss(num_sentences, seed)


class PCFGLanguage(Language):
  """A PCFG as a `Language`; tasks A/B/C (tree nodes) and A/B/C_argmax (flatness_jax.data.pcfg_tasks)."""

  def __init__(self, grammar: Grammar, batch_size: int = 512, provenance=None):
    super().__init__(grammar.name, grammar.vocab_size, grammar.max_length, grammar.min_length, batch_size)
    self.grammar = grammar
    self.provenance = dict(provenance or {})  # where a grammar file came from (recorded in the data card)
    self.tasks = pcfg_tasks.make_tasks(self)

  def card_extras(self) -> dict:
    return {"grammar_file": self.provenance} if self.provenance else {}

  def sample(self, key, n: int) -> Sample:
    return sample(self.grammar, key, n)

  def chart(self, tokens, lengths, pruned: bool = False) -> inside_outside.Chart:
    """The inside–outside chart of a batch (the last one is cached, so the tasks of one batch share it); pruned:
    only the spans reachable at the batch's lengths (enough for conditionals and likelihoods, not for
    `prefix_inside`; see flatness_jax.data.inside_outside). A pruned request reuses a cached full chart."""
    if pruned and self._cache[0] == batch_digest(np.asarray(tokens, np.int32), np.asarray(lengths, np.int32)):
      return self._cache[1]
    return self.cached(tokens, lengths, lambda t, l: inside_outside.compute_chart(self.grammar, t, l, pruned=pruned),
                       kind="pruned" if pruned else "")

  def _conditionals(self, tokens, lengths, out=None):
    return inside_outside.conditionals_from_chart(self.grammar, self.chart(tokens, lengths, pruned=True), out)

  def log_likelihood(self, tokens, lengths) -> np.ndarray:
    """log p(x) per sentence."""
    return self.batched(lambda t, l: self.chart(t, l, pruned=True).log_likelihood, tokens, lengths)
