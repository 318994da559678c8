"""Downstream tasks of a PCFG language: tree-node labels and the authors' likelihood-argmax labels.

Tree-node tasks `A`, `B`, `C` (Liu et al. 2023, §5): the non-terminal at depth 0, 1, 2 of the leftmost path of the
generating tree (the root, its left child, its left-left grandchild). In a balanced grammar of 32-token sentences
these are the labels of the spans of 32/16/8 tokens; a 16-token grammar gives spans of 16/8/4. In a grammar with
lexical rules above the bottom level the node may not exist (its parent emitted a word): that is one more class,
`absent`. The Bayes-optimal prediction is the argmax of the exact posterior, computed from the inside chart β and
the leftmost-path outside recursion (flatness_jax.data.inside_outside.leftmost_posteriors),
  P(absent) = 1 − Σ_A P(node_d = A | x).

Likelihood-argmax tasks `A_argmax`, `B_argmax`, `C_argmax` (the authors' released code): the argmax over start
non-terminals of the inside probability of the whole sentence, and the argmax over non-terminals of the inside
probability of the first max_length/4 (B) or max_length/8 (C) tokens (4 and 2 for the released 16-token grammar;
the whole sentence when it is shorter). The argmax runs over the non-terminals that can derive a span of that
length. These labels are functions of the sentence, so their Bayes accuracy is 1 by construction.
"""
import numpy as np

from flatness_jax.data import inside_outside as io_lib
from flatness_jax.data.language import Task

NODE_TASKS = {"A": 0, "B": 1, "C": 2}


def leftmost_classes(grammar, depth: int):
  """(sorted non-terminals that can be the depth-`depth` leftmost node, whether it can be absent)."""
  cur = set(np.flatnonzero(grammar.start > 0).tolist())
  absent = False
  for _ in range(depth):
    absent = absent or bool(np.any(grammar.lexical_mass[sorted(cur)] > 0))
    mask = np.isin(grammar.rule_lhs, sorted(cur))
    cur = set(grammar.rule_left[mask].tolist())
  return sorted(cur), absent


def leftmost_prior(grammar, depth: int, nts, absent: bool) -> np.ndarray:
  """The exact marginal P(label) of the depth-`depth` leftmost node over the classes (nts, then absent)."""
  p = grammar.start.copy()
  gone = 0.0
  for _ in range(depth):
    gone += p @ grammar.lexical_mass
    nxt = np.zeros_like(p)
    np.add.at(nxt, grammar.rule_left, p[grammar.rule_lhs] * grammar.rule_prob)
    p = nxt
  out = p[nts]
  return np.concatenate([out, [gone]]) if absent else out


def node_task(language, name: str, depth: int) -> Task:
  """The label of the depth-`depth` node of the leftmost path (module docstring)."""
  g = language.grammar
  nts, absent = leftmost_classes(g, depth)
  lookup = np.full(g.num_nonterminals + 1, -1, np.int64)
  lookup[nts] = np.arange(len(nts))
  lookup[-1] = len(nts) if absent else -1  # label −1 (no node) maps to the last class
  num_classes = len(nts) + int(absent)
  heap = 2 ** depth - 1

  def labels(sample):
    lab = np.asarray(sample.latents.labels)[:, heap]
    out = lookup[lab]
    if np.any(out < 0):
      raise ValueError(f"task {name}: a tree node label outside the task's classes")
    return out.astype(np.int32)

  def posterior(tokens, lengths):
    chart = language.chart(tokens, lengths)
    post = io_lib.leftmost_posteriors(g, chart, depth)[:, nts]
    if absent:
      post = np.concatenate([post, np.clip(1 - post.sum(1, keepdims=True), 0, None)], 1)
    return post

  def bayes(sample):
    return language.batched(posterior, sample.tokens, sample.lengths).argmax(1).astype(np.int32)

  class_names = tuple(g.nonterminals[a] for a in nts) + (("absent",) if absent else ())
  desc = f"non-terminal at depth {depth} of the leftmost path of the generating tree"
  return Task(name=name, num_classes=num_classes, labels=labels, bayes_predictions=bayes, description=desc,
              class_names=class_names, posterior=lambda tokens, lengths: language.batched(posterior, tokens, lengths),
              prior=leftmost_prior(g, depth, nts, absent))


def argmax_task(language, name: str, prefix: int) -> Task:
  """The authors' likelihood-argmax label over the first `prefix` tokens (0: the whole sentence, start symbols)."""
  g = language.grammar
  feas = g.yield_lengths
  possible = np.flatnonzero(feas[g.start > 0].any(0))
  if prefix == 0:
    classes = np.flatnonzero(g.start > 0)
    desc = "argmax over start non-terminals of the inside probability of the sentence"
  else:
    spans = sorted({min(prefix, int(n)) for n in possible})
    classes = np.flatnonzero(feas[:, spans].any(1))
    desc = f"argmax over non-terminals of the inside probability of the first {prefix} tokens"

  def label_fn(tokens, lengths):
    chart = language.chart(tokens, lengths)
    lengths = np.asarray(lengths)
    width = lengths if prefix == 0 else np.minimum(lengths, prefix)
    scores = io_lib.prefix_inside(g, chart, width)[:, classes]
    return np.where(feas[classes][:, width].T, scores, -1.0).argmax(1)

  def labels(sample):
    return language.batched(label_fn, sample.tokens, sample.lengths).astype(np.int32)

  return Task(name=name, num_classes=len(classes), labels=labels, bayes_predictions=labels, description=desc,
              class_names=tuple(g.nonterminals[a] for a in classes))


def make_tasks(language) -> dict:
  """Tree-node tasks A/B/C (those whose depth exists) and the likelihood-argmax tasks."""
  g = language.grammar
  tasks = {}
  for name, depth in NODE_TASKS.items():
    if depth <= g.depth:
      tasks[name] = node_task(language, name, depth)
  for name, prefix in (("A_argmax", 0), ("B_argmax", g.max_length // 4), ("C_argmax", g.max_length // 8)):
    if name == "A_argmax" or prefix >= 1:
      tasks[name] = argmax_task(language, name, prefix)
  return tasks
