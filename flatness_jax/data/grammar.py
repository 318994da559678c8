"""A probabilistic context-free grammar in Chomsky normal form, held as arrays, and its text format.

A grammar over non-terminals A ∈ {0..N−1} and words w ∈ {0..V−1} is
  * a start distribution  π(A)  (the authors' unary start rules S → A),
  * binary rules  A → B C  with probabilities  p_r, stored sparsely as (lhs, left, right, prob) arrays sorted by
    lhs (real grammars have ~20 rules per non-terminal, not N²),
  * emissions  A → w  with probabilities  e(A, w)  (dense [N, V]; a row may be all zero),
with  Σ_r [lhs_r = A] p_r + Σ_w e(A, w) = 1  for every A. A non-terminal may have both binary and lexical rules
(the released grammar's A1..A3 do), so sentence lengths vary. The rule graph must be acyclic: sentences then have a
bounded length (`max_length`) and trees a bounded depth (`depth`), which the samplers and charts rely on.

Text format of the authors' released grammar (Liu, Xie, Li, Ma 2023, `rule_deep_mlm.txt`): one rule a line,
`LHS RHS1 [RHS2] prob`; `S X prob` are the start rules; a 3-field line whose RHS is not a left-hand side anywhere
is a lexical rule (a word). Duplicate rules are summed; rows that do not sum to 1 are renormalised with a
`GrammarWarning`; blank lines and `#` comments are skipped. Words get ids in sorted order, non-terminals in order
of first appearance as a left-hand side. Malformed files raise `GrammarError` with `file:line` in the message.
"""
import collections
import dataclasses
import functools
import math
import os
import warnings

import numpy as np


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
  _check_structure(g.nonterminals, g.start > 0, g.lexical_mass > 0, g.rule_lhs, g.rule_left, g.rule_right,
                   where=lambda a: "")


def _terminating(has_lexical, lhs, left, right):
  """Non-terminals that derive some word string (least fixpoint)."""
  term = np.array(has_lexical, bool)
  while True:
    new = term.copy()
    new[lhs[term[left] & term[right]]] = True
    if np.array_equal(new, term):
      return term
    term = new


def _reachable(is_start, lhs, left, right):
  """Non-terminals that some derivation from the start reaches."""
  reach = np.array(is_start, bool)
  while True:
    new = reach.copy()
    new[left[reach[lhs]]] = True
    new[right[reach[lhs]]] = True
    if np.array_equal(new, reach):
      return reach
    reach = new


def _check_structure(names, is_start, has_lexical, lhs, left, right, where):
  """Terminating, reachable and acyclic; `where(A)` gives the 'file:line: ' prefix for an error about A."""
  n = len(names)
  term = _terminating(has_lexical, lhs, left, right)
  for a in np.flatnonzero(~term):
    raise GrammarError(f"{where(a)}non-terminating symbol {names[a]!r}: it derives no word string")
  reach = _reachable(is_start, lhs, left, right)
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


def load_grammar(path, start_symbol="S", atol=1e-6, strict=False, name=None) -> Grammar:
  """Reads the authors' text format (module docstring); GrammarError names file:line of what is wrong.

  Non-terminals that no derivation reaches are an error with `strict=True`; by default they are dropped with a
  GrammarWarning naming their line (the released grammar defines A1_9 but no start rule uses it). Rows whose
  probabilities sum to more than `atol` away from 1 are renormalised with a warning.
  """
  path = os.fspath(path)
  with open(path, encoding="utf-8") as f:
    lines = f.read().splitlines()
  entries = []  # (lineno, fields, prob)
  for lineno, raw in enumerate(lines, 1):
    text = raw.split("#", 1)[0].strip()
    if not text:
      continue
    fields = text.split()
    if len(fields) not in (3, 4):
      raise GrammarError(f"{path}:{lineno}: unknown rule arity: expected 'LHS RHS1 [RHS2] prob' (3 or 4 fields), "
                         f"got {len(fields)} fields: {text!r}")
    try:
      prob = float(fields[-1])
    except ValueError:
      prob = math.nan
    if not (math.isfinite(prob) and 0 <= prob <= 1 + 1e-12):
      raise GrammarError(f"{path}:{lineno}: bad probability {fields[-1]!r} (expected a number in [0, 1])")
    entries.append((lineno, fields[:-1], prob))
  if not entries:
    raise GrammarError(f"{path}:1: empty grammar file (no rules)")

  lhs_symbols = {}
  for lineno, syms, _ in entries:
    lhs_symbols.setdefault(syms[0], lineno)
  if start_symbol not in lhs_symbols:
    raise GrammarError(f"{path}:{entries[0][0]}: no start rules '{start_symbol} X prob' in the file")
  nts = [s for s in lhs_symbols if s != start_symbol]
  nt_id = {s: i for i, s in enumerate(nts)}
  first_line = {nt_id[s]: ln for s, ln in lhs_symbols.items() if s != start_symbol}
  start = collections.defaultdict(float)
  binary = collections.defaultdict(float)
  lexical = collections.defaultdict(float)
  rule_line = {}
  for lineno, syms, prob in entries:
    lhs, rhs = syms[0], syms[1:]
    if start_symbol in rhs:
      raise GrammarError(f"{path}:{lineno}: the start symbol {start_symbol!r} appears on a right-hand side")
    if lhs == start_symbol:
      if len(rhs) != 1 or rhs[0] not in nt_id:
        raise GrammarError(f"{path}:{lineno}: start rules must be unary '{start_symbol} X prob' with X a "
                           f"non-terminal (a left-hand side elsewhere); got {' '.join(syms)!r}")
      start[nt_id[rhs[0]]] += prob
    elif len(rhs) == 2:
      for s in rhs:
        if s not in nt_id:
          raise GrammarError(f"{path}:{lineno}: non-terminating symbol {s!r}: used on a right-hand side but has "
                             "no rules")
      key = (nt_id[lhs], nt_id[rhs[0]], nt_id[rhs[1]])
      binary[key] += prob
      rule_line.setdefault(key, lineno)
    elif rhs[0] in nt_id:
      raise GrammarError(f"{path}:{lineno}: unary rule between non-terminals {' '.join(syms)!r} (only the start "
                         "rules may be unary in Chomsky normal form)")
    else:
      lexical[(nt_id[lhs], rhs[0])] += prob

  words = sorted({w for _, w in lexical})
  w_id = {w: i for i, w in enumerate(words)}
  n, v = len(nts), len(words)
  if v == 0:
    raise GrammarError(f"{path}:{entries[-1][0]}: the grammar has no lexical rules (no words)")
  start_arr = np.zeros(n)
  for a, p in start.items():
    start_arr[a] = p
  emission = np.zeros((n, v))
  for (a, w), p in lexical.items():
    emission[a, w_id[w]] = p
  rules = sorted((a, b, c, p) for (a, b, c), p in binary.items() if p > 0)
  lhs = np.array([r[0] for r in rules], np.int64)
  left = np.array([r[1] for r in rules], np.int64)
  right = np.array([r[2] for r in rules], np.int64)
  rule_prob = np.array([r[3] for r in rules], np.float64)

  where = lambda a: f"{path}:{first_line[a]}: "  # pylint: disable=unnecessary-lambda-assignment
  rows = emission.sum(1) + np.bincount(lhs, rule_prob, minlength=n)
  for a in np.flatnonzero(rows <= 0):
    raise GrammarError(f"{where(a)}non-terminating symbol {nts[a]!r}: its rules have total probability 0")
  start_sum = start_arr.sum()
  if start_sum <= 0:
    raise GrammarError(f"{path}:{lhs_symbols[start_symbol]}: the start rules have total probability 0")
  term = _terminating(emission.sum(1) > 0, lhs, left, right)
  for a in np.flatnonzero(~term):
    raise GrammarError(f"{where(a)}non-terminating symbol {nts[a]!r}: it derives no word string")
  reach = _reachable(start_arr > 0, lhs, left, right)
  if not reach.all():
    lost = np.flatnonzero(~reach)
    if strict:
      a = lost[0]
      raise GrammarError(f"{where(a)}unreachable symbol {nts[a]!r}: no derivation from the start reaches it")
    warnings.warn(f"{path}: dropped {len(lost)} unreachable non-terminal(s): "
                  + ", ".join(f"{nts[a]!r} (line {first_line[a]})" for a in lost), GrammarWarning, stacklevel=2)
  off = np.abs(rows - 1) > atol
  if off[reach].any() or abs(start_sum - 1) > atol:
    worst = int(np.argmax(np.where(reach, np.abs(rows - 1), -1)))
    warnings.warn(f"{path}: renormalised {int(off[reach].sum()) + int(abs(start_sum - 1) > atol)} rule rows that "
                  f"did not sum to 1 (worst {nts[worst]!r} at line {first_line[worst]}: {rows[worst]:.9g}; start "
                  f"rules: {start_sum:.9g})", GrammarWarning, stacklevel=2)
  emission /= rows[:, None]
  rule_prob = rule_prob / rows[lhs]
  start_arr /= start_sum
  keep = np.flatnonzero(reach)
  remap = -np.ones(n, np.int64)
  remap[keep] = np.arange(len(keep))
  nts = [nts[a] for a in keep]
  first_line = {int(remap[a]): first_line[a] for a in keep}
  r_keep = reach[lhs]
  lhs, left, right, rule_prob = remap[lhs[r_keep]], remap[left[r_keep]], remap[right[r_keep]], rule_prob[r_keep]
  emission, start_arr = emission[keep], start_arr[keep]
  _check_structure(nts, start_arr > 0, emission.sum(1) > 0, lhs, left, right, where)
  rules = list(zip(lhs.tolist(), left.tolist(), right.tolist(), rule_prob.tolist()))
  if name is None:
    name = os.path.splitext(os.path.basename(path))[0]
  return make_grammar(nts, words, start_arr, rules, emission, name=name)
