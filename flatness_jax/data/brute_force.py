"""Exact enumeration of tiny PCFGs and HMMs: every derivation / state path, for tests of the fast algorithms.

`pcfg_derivations(grammar)` lists every derivation tree (probability, words, leftmost-path labels) by recursion
over the rules, with no chart; `sentence_distribution` sums them per sentence; `conditionals` divides
p(x with x_t = w) by Σ_w' p(x with x_t = w') for every position. `hmm_joint` enumerates (states, words) pairs.
Costs grow exponentially: only for grammars with a few thousand derivations.
"""
import collections
import functools
import itertools

import numpy as np


def pcfg_derivations(grammar, max_count: int = 200_000):
  """[(prob, words tuple, leftmost-path labels tuple)] over every derivation from the start distribution."""

  @functools.lru_cache(maxsize=None)
  def derive(a):
    out = [(p, (w,), (a,)) for w, p in enumerate(grammar.emission[a]) if p > 0]
    for r in np.flatnonzero(grammar.rule_lhs == a):
      b, c, p = grammar.rule_left[r], grammar.rule_right[r], grammar.rule_prob[r]
      for (pl, wl, path), (pr, wr, _) in itertools.product(derive(int(b)), derive(int(c))):
        out.append((p * pl * pr, wl + wr, (a,) + path))
      if len(out) > max_count:
        raise ValueError("too many derivations to enumerate")
    return tuple(out)

  return [(s * p, words, path) for a, s in enumerate(grammar.start) if s > 0 for p, words, path in derive(a)]


def sentence_distribution(derivations) -> dict:
  """{words tuple: p(x)}."""
  dist = collections.defaultdict(float)
  for p, words, _ in derivations:
    dist[words] += p
  return dict(dist)


def conditionals(dist: dict, words: tuple, vocab_size: int) -> np.ndarray:
  """p(x_t = w | x_{−t}) [len(words), V] by summing the enumerated sentence probabilities."""
  out = np.zeros((len(words), vocab_size))
  for t in range(len(words)):
    for w in range(vocab_size):
      out[t, w] = dist.get(words[:t] + (w,) + words[t + 1:], 0.0)
    out[t] /= out[t].sum()
  return out


def label_joint(derivations, depth: int) -> dict:
  """{(words, label at leftmost depth `depth` or −1 when absent): probability}."""
  joint = collections.defaultdict(float)
  for p, words, path in derivations:
    joint[(words, path[depth] if depth < len(path) else -1)] += p
  return dict(joint)


def hmm_joint(hmm, length=None) -> dict:
  """{(states tuple, words tuple): probability} for every path of `length` (default hmm.length) steps."""
  length = length or hmm.length
  h, v = hmm.emission.shape
  out = {}
  for states in itertools.product(range(h), repeat=length):
    ps = hmm.initial[states[0]] * np.prod([hmm.transition[a, b] for a, b in zip(states, states[1:])])
    if ps == 0:
      continue
    for words in itertools.product(range(v), repeat=length):
      pw = np.prod([hmm.emission[s, w] for s, w in zip(states, words)])
      if pw > 0:
        out[(states, words)] = ps * pw
  return out
