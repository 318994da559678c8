"""The text format of the authors' released grammar (Liu, Xie, Li, Ma 2023, `rule_deep_mlm.txt`) → `Grammar`.

One rule a line, `LHS RHS1 [RHS2] prob`; `S X prob` are the start rules; a 3-field line whose RHS is not a
left-hand side anywhere is a lexical rule (a word). Duplicate rules are summed; rows that do not sum to 1 are
renormalised with a `GrammarWarning`; blank lines and `#` comments are skipped. Words get ids in sorted order,
non-terminals in order of first appearance as a left-hand side. Malformed files raise `GrammarError` with
`file:line` in the message; so do a directory, a file that is not UTF-8 text (a binary), a file larger than
`MAX_BYTES`, and a grammar too deep to sample (flatness_jax.data.grammar.MAX_DEPTH).
"""
import collections
import math
import os
import warnings

import numpy as np

from flatness_jax.data import grammar as grammar_lib
from flatness_jax.data.grammar import Grammar, GrammarError, GrammarWarning, make_grammar

MAX_BYTES = 64 << 20  # A grammar file larger than this is not a grammar (the released one is ~150 KB).


def _read_text(path: str) -> list[str]:
  """The lines of the grammar file at `path`; GrammarError naming it when it is not a readable text file."""
  if os.path.isdir(path):
    raise GrammarError(f"{path}: is a directory, not a grammar file")
  if not os.path.exists(path):
    raise FileNotFoundError(f"grammar file {path} does not exist")
  if os.path.getsize(path) > MAX_BYTES:
    raise GrammarError(f"{path}: {os.path.getsize(path):,} bytes is larger than a grammar file ({MAX_BYTES:,} max)")
  with open(path, "rb") as f:
    data = f.read()
  nul = data.find(bytes(1))
  if nul >= 0:
    raise GrammarError(f"{path}: a binary file (byte {nul:,} is NUL), not a grammar in text format")
  try:
    return data.decode("utf-8").splitlines()
  except UnicodeDecodeError as e:
    raise GrammarError(f"{path}: not a UTF-8 text file (byte {e.start:,} cannot be decoded)") from None


def load_grammar(path, start_symbol="S", atol=1e-6, strict=False, name=None) -> Grammar:
  """Reads the authors' text format (module docstring); GrammarError names file:line of what is wrong.

  Non-terminals that no derivation reaches are an error with `strict=True`; by default they are dropped with a
  GrammarWarning naming their line (the released grammar defines A1_9 but no start rule uses it). Rows whose
  probabilities sum to more than `atol` away from 1 are renormalised with a warning.
  """
  path = os.fspath(path)
  lines = _read_text(path)
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
  term = grammar_lib.terminating(emission.sum(1) > 0, lhs, left, right)
  for a in np.flatnonzero(~term):
    raise GrammarError(f"{where(a)}non-terminating symbol {nts[a]!r}: it derives no word string")
  reach = grammar_lib.reachable(start_arr > 0, lhs, left, right)
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
  grammar_lib.check_structure(nts, start_arr > 0, emission.sum(1) > 0, lhs, left, right, where)
  rules = list(zip(lhs.tolist(), left.tolist(), right.tolist(), rule_prob.tolist()))
  if name is None:
    name = os.path.splitext(os.path.basename(path))[0]
  try:
    return make_grammar(nts, words, start_arr, rules, emission, name=name)
  except GrammarError as e:
    raise GrammarError(f"{path}: {e}") from None
