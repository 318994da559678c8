"""A probabilistic context-free grammar in Chomsky normal form, held as arrays, and its structural checks.

A grammar over non-terminals A ∈ {0..N−1} and words w ∈ {0..V−1} is
  * a start distribution  π(A)  (the authors' unary start rules S → A),
  * binary rules  A → B C  with probabilities  p_r, stored sparsely as (lhs, left, right, prob) arrays sorted by
    lhs (real grammars have ~20 rules per non-terminal, not N²),
  * emissions  A → w  with probabilities  e(A, w)  (dense [N, V]; a row may be all zero),
with  Σ_r [lhs_r = A] p_r + Σ_w e(A, w) = 1  for every A. A non-terminal may have both binary and lexical rules
(the released grammar's A1..A3 do), so sentence lengths vary. The rule graph must be acyclic: sentences then have a
bounded length (`max_length`) and trees a bounded depth (`depth`), which the samplers and charts rely on.

Size bounds. The sampler lays a tree out in heap order, 2^(depth+1) − 1 nodes per sentence whatever its shape, so
a grammar deeper than `MAX_DEPTH` is refused before anything is sampled (a chain of 26 rules would need 2^26 nodes
per sentence), with its depth, longest sentence and expected sentence length in the message; `MAX_DEPTH` also bounds
the longest sentence (2^MAX_DEPTH tokens).

The authors' text format is read by flatness_jax.data.grammar_text.load_grammar.
"""
import collections
import dataclasses
import functools

import numpy as np

MAX_DEPTH = 10  # Deepest non-terminal level the sampler supports: 2^11 − 1 heap nodes per sentence, ≤ 1024 tokens.


class GrammarError(ValueError):
  """A malformed grammar (file:line names where, for files)."""


class GrammarWarning(UserWarning):
  """A grammar that was repaired on load (e.g. rows renormalised)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Grammar:
  """A CNF PCFG as arrays (see the module docstring). Construct with `make_grammar` to validate."""
  nonterminals: tuple   # names, length N
  words: tuple          # names, length V
  start: np.ndarray     # float64 [N]: π(A)
  rule_lhs: np.ndarray  # int32 [R], sorted
  rule_left: np.ndarray   # int32 [R]
  rule_right: np.ndarray  # int32 [R]
  rule_prob: np.ndarray   # float64 [R]
  emission: np.ndarray    # float64 [N, V]: e(A, w)
  name: str = "pcfg"

  @property
  def num_nonterminals(self) -> int:
    return len(self.nonterminals)

  @property
  def vocab_size(self) -> int:
    return len(self.words)

  @property
  def num_rules(self) -> int:
    return len(self.rule_prob)

  @functools.cached_property
  def lexical_mass(self) -> np.ndarray:
    """Σ_w e(A, w): the probability that A emits a word, [N]."""
    return self.emission.sum(1)

  @functools.cached_property
  def max_yields(self) -> np.ndarray:
    """The longest sentence each non-terminal derives, [N] (finite: the rule graph is acyclic)."""
    return _yield_bounds(self)[1]

  @functools.cached_property
  def max_length(self) -> int:
    return int(self.max_yields[self.start > 0].max())

  @functools.cached_property
  def yield_lengths(self) -> np.ndarray:
    """feasible[A, n]: A derives some sentence of n tokens, bool [N, max_length + 1]."""
    n_max = self.max_length
    feas = np.zeros((self.num_nonterminals, n_max + 1), bool)
    feas[:, 1] = self.lexical_mass > 0
    for n in range(2, n_max + 1):
      for j in range(1, n):
        ok = feas[self.rule_left, j] & feas[self.rule_right, n - j]
        feas[self.rule_lhs[ok], n] = True
    return feas

  @functools.cached_property
  def min_length(self) -> int:
    lengths = np.flatnonzero(self.yield_lengths[self.start > 0].any(0))
    return int(lengths.min())

  @functools.cached_property
  def depths(self) -> np.ndarray:
    """The deepest tree level (root = 0) at which each non-terminal can occur, [N] (−1: unreachable)."""
    depth = np.where(self.start > 0, 0, -1)
    for _ in range(self.num_nonterminals):
      child = np.full_like(depth, -1)
      ok = depth[self.rule_lhs] >= 0
      np.maximum.at(child, self.rule_left[ok], depth[self.rule_lhs[ok]] + 1)
      np.maximum.at(child, self.rule_right[ok], depth[self.rule_lhs[ok]] + 1)
      new = np.maximum(depth, child)
      if np.array_equal(new, depth):
        break
      depth = new
    return depth

  @property
  def depth(self) -> int:
    """The deepest level of a non-terminal node (root = 0); leaves (words) hang one level below."""
    return int(self.depths.max())


def expected_lengths(g: Grammar) -> np.ndarray:
  """E[sentence length | root A] for every non-terminal, [N]: ℓ(A) = Σ_w e(A, w) + Σ_r [lhs_r = A] p_r (ℓ(B_r) +
  ℓ(C_r)), solved by relaxation over the acyclic rule graph (at most N rounds)."""
  ell = g.lexical_mass.copy()
  for _ in range(g.num_nonterminals + 1):
    new = g.lexical_mass + np.bincount(g.rule_lhs, g.rule_prob * (ell[g.rule_left] + ell[g.rule_right]),
                                       minlength=g.num_nonterminals)
    if np.allclose(new, ell, rtol=0, atol=0):
      break
    ell = new
  return ell


def check_size(g: Grammar) -> None:
  """Raises GrammarError when the grammar's trees are deeper than MAX_DEPTH (module docstring), naming its depth,
  its longest sentence and its expected sentence length; cheap (no sentence is sampled)."""
  if g.depth <= MAX_DEPTH:
    return
  expected = float(g.start @ expected_lengths(g))
  raise GrammarError(f"grammar depth {g.depth} exceeds {MAX_DEPTH}: sentences up to {g.max_length:,} tokens "
                     f"(expected {expected:,.4g}) would need {2 ** (g.depth + 1) - 1:,} tree nodes each in the "
                     "sampler; use a shallower grammar")


def _yield_bounds(g: Grammar):
  """(min, max) sentence length derivable from each non-terminal, by relaxation over the acyclic rule graph."""
  n = g.num_nonterminals
  lo = np.where(g.lexical_mass > 0, 1, np.inf)
  hi = np.where(g.lexical_mass > 0, 1, -np.inf)
  for _ in range(n + 1):
    lo_new, hi_new = lo.copy(), hi.copy()
    if g.num_rules:
      np.minimum.at(lo_new, g.rule_lhs, lo[g.rule_left] + lo[g.rule_right])
      np.maximum.at(hi_new, g.rule_lhs, hi[g.rule_left] + hi[g.rule_right])
    if np.array_equal(lo_new, lo) and np.array_equal(hi_new, hi):
      break
    lo, hi = lo_new, hi_new
  return lo, np.where(np.isfinite(hi), hi, 0).astype(np.int64)


def make_grammar(nonterminals, words, start, rules, emission, name="pcfg", atol=1e-9) -> Grammar:
  """Builds and validates a Grammar; `rules` is a sequence of (lhs, left, right, prob) with integer ids."""
  rules = sorted((int(a), int(b), int(c), float(p)) for a, b, c, p in rules if p > 0)
  arr = np.array(rules, np.float64).reshape(-1, 4)
  g = Grammar(nonterminals=tuple(nonterminals), words=tuple(words), start=np.asarray(start, np.float64),
              rule_lhs=arr[:, 0].astype(np.int32), rule_left=arr[:, 1].astype(np.int32),
              rule_right=arr[:, 2].astype(np.int32), rule_prob=arr[:, 3].copy(),
              emission=np.asarray(emission, np.float64), name=name)
  check_grammar(g, atol=atol)
  return g


def check_grammar(g: Grammar, atol=1e-9) -> None:
  """Raises GrammarError unless the arrays form a proper, acyclic, trim PCFG (see the module docstring)."""
  n, v = g.num_nonterminals, g.vocab_size
  if n == 0 or v == 0:
    raise GrammarError("a grammar needs at least one non-terminal and one word")
  if g.start.shape != (n,) or g.emission.shape != (n, v):
    raise GrammarError(f"shapes: start {g.start.shape}, emission {g.emission.shape}; expected ({n},), ({n}, {v})")
  for arr in (g.rule_lhs, g.rule_left, g.rule_right):
    if arr.size and (arr.min() < 0 or arr.max() >= n):
      raise GrammarError("rule index out of range")
  probs = np.concatenate([g.start, g.rule_prob, g.emission.ravel()])
  if not np.all(np.isfinite(probs)) or probs.min(initial=0) < 0:
    raise GrammarError("probabilities must be finite and non-negative")
  if abs(g.start.sum() - 1) > atol:
    raise GrammarError(f"start distribution sums to {g.start.sum()}")
  rows = g.lexical_mass + np.bincount(g.rule_lhs, g.rule_prob, minlength=n)
  bad = np.flatnonzero(np.abs(rows - 1) > atol)
  if bad.size:
    raise GrammarError(f"rules of {g.nonterminals[bad[0]]} sum to {rows[bad[0]]}, not 1")
  check_structure(g.nonterminals, g.start > 0, g.lexical_mass > 0, g.rule_lhs, g.rule_left, g.rule_right,
                   where=lambda a: "")
  check_size(g)


def terminating(has_lexical, lhs, left, right):
  """Non-terminals that derive some word string (least fixpoint)."""
  term = np.array(has_lexical, bool)
  while True:
    new = term.copy()
    new[lhs[term[left] & term[right]]] = True
    if np.array_equal(new, term):
      return term
    term = new


def reachable(is_start, lhs, left, right):
  """Non-terminals that some derivation from the start reaches."""
  reach = np.array(is_start, bool)
  while True:
    new = reach.copy()
    new[left[reach[lhs]]] = True
    new[right[reach[lhs]]] = True
    if np.array_equal(new, reach):
      return reach
    reach = new


def check_structure(names, is_start, has_lexical, lhs, left, right, where):
  """Terminating, reachable and acyclic; `where(A)` gives the 'file:line: ' prefix for an error about A."""
  n = len(names)
  term = terminating(has_lexical, lhs, left, right)
  for a in np.flatnonzero(~term):
    raise GrammarError(f"{where(a)}non-terminating symbol {names[a]!r}: it derives no word string")
  reach = reachable(is_start, lhs, left, right)
  for a in np.flatnonzero(~reach):
    raise GrammarError(f"{where(a)}unreachable symbol {names[a]!r}: no derivation from the start reaches it")
  children = collections.defaultdict(set)
  for a, b, c in zip(lhs, left, right):
    children[int(a)].update((int(b), int(c)))
  colour = [0] * n  # acyclic: iterative DFS, 1 = on the stack, 2 = done
  for root in range(n):
    if colour[root]:
      continue
    colour[root] = 1
    stack = [(root, iter(sorted(children[root])))]
    while stack:
      a, it = stack[-1]
      nxt = next(it, None)
      if nxt is None:
        colour[a] = 2
        stack.pop()
      elif colour[nxt] == 1:
        raise GrammarError(f"{where(a)}recursive rules through {names[a]!r} -> ... -> {names[nxt]!r}: sentence "
                           "length would be unbounded (only acyclic grammars are supported)")
      elif colour[nxt] == 0:
        colour[nxt] = 1
        stack.append((nxt, iter(sorted(children[nxt]))))
