"""Batched inside–outside for a CNF PCFG (numpy, float64, per-span scaling, sparse or block-dense rules).

For a sentence x_0..x_{n−1} and a span [i, k), the inside and outside probabilities are
  β(i,k)[A] = P(A ⇒* x_i..x_{k−1}),
  α(i,k)[A] = P(S ⇒* x_0..x_{i−1} A x_k..x_{n−1}),
with β(t,t+1)[A] = e(A, x_t),  β(i,k)[A] = Σ_{i<j<k} Σ_{r: A→BC} p_r β(i,j)[B] β(j,k)[C],  α(0,n)[A] = π(A),
  α(i,j)[B] = Σ_{k>j} Σ_{r: A→BC} p_r α(i,k)[A] β(j,k)[C] + Σ_{h<i} Σ_{r: A→CB} p_r α(h,j)[A] β(h,i)[C].
The outside of a span depends only on the words outside it, so one pass gives every masked conditional at once
(the masked leaf summed out):  p(x_t = w | x_{−t}) = Σ_A α(t,t+1)[A] e(A, w) / Σ_A α(t,t+1)[A] Σ_w' e(A, w')
(Lari & Young 1990; Liu et al. 2023, §2, for the optimal loss).

The recursions are vectorised over every span of a batch by flatness_jax.data.rule_contraction (`RuleSet`, `Term`):
a chart holds, per width w, one row per span [i, i+w) of every sentence of the batch that it fits in (i + w ≤ n),
and each recursion step is one contraction over all of them. Each span's vector is stored normalised to max 1
with its log-scale, so sentences of any length stay in range (raw float64 probabilities underflow after roughly
150 tokens of a 200-word grammar).

`leftmost_posteriors` runs the outside recursion along the leftmost path of the tree only, for the tree-node tasks
of flatness_jax.data.pcfg_tasks.

Pruned charts (`compute_chart(..., pruned=True)`, what the masked conditionals use): a span [i, k) of a sentence of
length n can carry a node of a derivation only if some symbol A is *reachable* there,
  R_n(0,n) = {S : π(S) > 0, S ⇒* strings of length n},
  B ∈ R_n(i,j), C ∈ R_n(j,k)  if  A ∈ R_n(i,k), A → BC, B derives length j − i and C length k − j,
which depends on the lengths only (yield_lengths), not the words. Every derivation of nonzero probability has all
its nodes in R_n, so dropping the spans where R_n is empty (and treating their inside and outside as 0) leaves
every sum over derivations, hence the leaf outsides and the conditionals, unchanged. Level-structured grammars gain
most: in the authors' released grammar the start symbols split into two A1 spans of ≤ 8 tokens, so a span wider
than 4 exists only as a prefix or a suffix. The inside of a kept span is then the sum over derivations inside the
kept spans only, which differs from β for symbols not reachable there; `prefix_inside` (the argmax tasks, which
need β of every symbol over a prefix) therefore uses the full chart.

Scaling is skipped (scales 0) when no nonzero quantity of the chart can fall below e^−600 (`log_floor`: the least
likely derivation shape of the padded length), as for the released grammar's 16 tokens (bound e^−279): the same
numbers up to rounding, without the per-span maxima and exponentials.

Every width's inside and outside array carries one extra all-zero row (log-scale NEG) at the end: row index −1
(a span absent from the chart) reads it, so terms over absent spans contribute 0 without a selection.
"""
import dataclasses
import functools

import numpy as np

from flatness_jax.data.rule_contraction import NEG, RuleSet, Term, matmul_rows, normalise

UNSCALED_FLOOR = -600.0  # raw float64 charts when every nonzero quantity is ≥ e^−600 (smallest normal: e^−708)


def log_floor(grammar, length: int) -> float:
  """A lower bound on log q for every nonzero quantity q of a chart of sentences of ≤ `length` tokens:
  log min π + (L − 1) log min p_r + L log min e(A, w), the log-probability of the least likely possible
  derivation shape (a derivation of n leaves has one root, n − 1 binary rules, n emissions). Every inside, outside,
  partial product of a contraction and leaf joint is a sum of products of a subset of one derivation's factors,
  each ≤ 1, so each is at least this."""
  g = grammar
  low = lambda x: float(np.log(np.min(x[x > 0]))) if np.any(x > 0) else 0.0
  return low(np.asarray(g.start)) + (length - 1) * low(np.asarray(g.rule_prob)) + length * low(g.emission)


class ChartPlan:
  """The rules of a grammar in each orientation, for sentences padded to `length` tokens; `needs_scaling`: whether
  raw float64 charts could underflow (log_floor below UNSCALED_FLOOR), else charts skip the per-span scaling."""

  def __init__(self, grammar, length: int):
    g = grammar
    feas = np.zeros((g.num_nonterminals, length + 1), bool)
    n_feas = min(length, g.max_length)
    feas[:, :n_feas + 1] = g.yield_lengths[:, :n_feas + 1]
    self.length = length
    self.feasible = feas
    self.needs_scaling = log_floor(g, length) < UNSCALED_FLOOR
    child = np.zeros(g.num_nonterminals, bool)
    child[g.rule_left] = child[g.rule_right] = True
    self.root_only = (g.start > 0) & ~child
    is_root = self.root_only[g.rule_lhs]

    def sets(mask):
      lhs, left, right, prob = g.rule_lhs[mask], g.rule_left[mask], g.rule_right[mask], g.rule_prob[mask]
      return (RuleSet(left, right, lhs, prob, feas),   # β(i,k)[lhs] += p β(i,j)[left] β(j,k)[right]
              RuleSet(lhs, right, left, prob, feas),   # α(i,j)[left] += p α(i,k)[lhs] β(j,k)[right]
              RuleSet(lhs, left, right, prob, feas))   # α(j,k)[right] += p α(i,k)[lhs] β(i,j)[left]

    self.inside, self.out_left, self.out_right = sets(~is_root)
    self.root_inside, self.root_left, self.root_right = sets(is_root)
    self.all_left = RuleSet(g.rule_lhs, g.rule_right, g.rule_left, g.rule_prob, feas)
    self._grammar = g
    self._reachable = {}

  def reachable(self, n: int) -> list:
    """R_n per width w: [n − w + 1 (start i), N] bool, symbol A reachable over [i, i+w) in a sentence of length n
    (module docstring); computed top-down over widths, one boolean matrix product per (width, split)."""
    n = int(n)
    if n not in self._reachable:
      g, feas = self._grammar, self.feasible
      num = g.num_nonterminals
      reach = [np.zeros((max(n - w + 1, 0), num), bool) for w in range(n + 1)]
      if 1 <= n <= self.length:
        reach[n][0] = (g.start > 0) & feas[:, n]
      for w in range(n, 1, -1):
        parent = reach[w].astype(np.float64)
        if not parent.any():
          continue
        for j in range(1, w):
          ok = feas[g.rule_lhs, w] & feas[g.rule_left, j] & feas[g.rule_right, w - j]
          if not ok.any():
            continue
          to_left, to_right = np.zeros((num, num)), np.zeros((num, num))
          to_left[g.rule_lhs[ok], g.rule_left[ok]] = 1.0
          to_right[g.rule_lhs[ok], g.rule_right[ok]] = 1.0
          reach[j][:n - w + 1] |= parent @ to_left > 0
          reach[w - j][j:j + n - w + 1] |= parent @ to_right > 0
      self._reachable[n] = reach
    return self._reachable[n]

  @functools.cached_property
  def reach_table(self) -> np.ndarray:
    """[L + 1 (length n), L + 1 (width w), L (start i), N] bool: R_n over [i, i+w) for every length n ≤ L."""
    length, num = self.length, self.feasible.shape[0]
    table = np.zeros((length + 1, length + 1, max(length, 1), num), bool)
    for n in range(1, length + 1):
      for w, r in enumerate(self.reachable(n)[1:], start=1):
        table[n, w, :len(r)] = r
    return table


@functools.lru_cache(maxsize=16)
def _plan_cached(grammar, length):
  return ChartPlan(grammar, length)


def chart_plan(grammar, length: int) -> ChartPlan:
  """The (cached) plan of a grammar for sentences padded to `length` tokens."""
  return _plan_cached(grammar, int(length))


@dataclasses.dataclass
class Chart:
  """Per width w: span rows (start[w][c], sent[w][c]) with i + w ≤ n (pruned: and the span reachable), row index
  pos[w][i, s] (−1: no such span), normalised inside[w] / outside[w] [#rows + 1, N] and their log-scales
  [#rows + 1] (true β = vector · exp(scale); the last row is the all-zero row that index −1 reads)."""
  lengths: np.ndarray
  start: list
  sent: list
  pos: list
  inside: list
  inside_scale: list
  outside: list = None
  outside_scale: list = None
  need: list = None  # pruned: [#rows, N] bool per width, the symbols reachable over each row's span
  log_likelihood: np.ndarray = None  # [b]: log p(x)

def _spans(lengths, length, plan=None):
  """Span rows per width (start, sent, pos; module docstring) and, with a plan (pruned chart), only the spans where
  some symbol is reachable, plus need[w] [#rows, N]: the symbols reachable over each row's span (None: all)."""
  start, sent, pos = [None] * (length + 1), [None] * (length + 1), [None] * (length + 1)
  need = [None] * (length + 1)
  if plan is not None:
    table = plan.reach_table
    present = table.any(-1)  # [n, w, i]
    n_of = np.clip(lengths, 0, length)
  for w in range(1, length + 1):
    ok = np.arange(length - w + 1)[:, None] + w <= lengths[None, :]
    if plan is None:
      start[w], sent[w] = np.nonzero(ok)
    else:
      ok &= present[n_of[None, :], w, np.arange(length - w + 1)[:, None]]
      start[w], sent[w] = np.nonzero(ok)
      need[w] = table[n_of[sent[w]], w, start[w]]
    pos[w] = np.full(ok.shape, -1)
    pos[w][start[w], sent[w]] = np.arange(len(start[w]))
  return start, sent, pos, need


def _finish(acc, m, scaled):
  """A width's array and log-scales, the all-zero row (scale NEG) appended (acc [rows + 1, N], its last row zero):
  scaled, normalise(acc, m); unscaled, acc as it is with scale 0 (m is 0 there)."""
  if scaled:
    return normalise(acc, np.append(m, NEG))
  return acc, np.append(np.zeros(len(acc) - 1), NEG)


def compute_chart(grammar, tokens, lengths, with_outside: bool = True, pruned: bool = False,
                  scaled: bool = None) -> Chart:
  """Inside (and outside) charts for a padded batch `tokens` [b, L] (−1 or anything past `lengths`); pruned: only
  the reachable spans (module docstring; same leaf outsides and likelihoods, not for `prefix_inside`); scaled:
  per-span scaling (None: only where raw float64 could underflow at this length, `ChartPlan.needs_scaling`)."""
  tokens = np.asarray(tokens)
  lengths = np.asarray(lengths, np.int64)
  b, length = tokens.shape
  plan = chart_plan(grammar, length)
  scaled = plan.needs_scaling if scaled is None else bool(scaled)
  n = grammar.num_nonterminals
  start, sent, pos, need = _spans(lengths, length, plan if pruned else None)
  beta, sb = [None] * (length + 1), [None] * (length + 1)
  leaves = np.zeros((len(start[1]) + 1, n))
  leaves[:-1] = grammar.emission.T[tokens[sent[1], start[1]]]
  beta[1], sb[1] = _finish(leaves, np.zeros(len(start[1])), scaled)
  for w in range(2, length + 1):
    ci, cs = start[w], sent[w]
    rows = len(ci)
    root = np.flatnonzero((ci == 0) & (lengths[cs] == w))
    splits = [j for j in range(1, w) if plan.inside.any_feasible(j, w - j, w)
              or (root.size and plan.root_inside.any_feasible(j, w - j, w))] if rows else []
    if not splits:
      beta[w], sb[w] = np.zeros((rows + 1, n)), np.full(rows + 1, NEG)
      continue
    m = np.full(rows, NEG) if scaled else np.zeros(rows)
    parts = []
    for j in splits:
      li, ri = pos[j][ci, cs], pos[w - j][ci + j, cs]
      c = None
      if scaled:
        c = sb[j][li] + sb[w - j][ri]
        np.maximum(m, c, out=m)
      parts.append((j, li, ri, c))
    weight = (lambda c, r=slice(None): np.exp(c[r] - m[r])) if scaled else (lambda c, r=None: None)
    full = np.zeros((rows + 1, n))
    acc = full[:rows]
    plan.inside.contract(acc, [Term(j, w - j, w, None, beta[j], li, beta[w - j], ri, weight(c))
                               for j, li, ri, c in parts], need[w])
    if root.size:
      plan.root_inside.contract(acc, [Term(j, w - j, w, root, beta[j], li[root], beta[w - j], ri[root],
                                           weight(c, root)) for j, li, ri, c in parts], need[w])
    beta[w], sb[w] = _finish(full, m, scaled)
  chart = Chart(lengths=lengths, start=start, sent=sent, pos=pos, inside=beta, inside_scale=sb, need=need)
  chart.log_likelihood = _log_likelihood(grammar, chart)
  if with_outside:
    _outside(grammar, plan, chart, length, scaled)
  return chart


def _log_likelihood(grammar, chart):
  out = np.full(len(chart.lengths), -np.inf)
  for n_tok in np.unique(chart.lengths):
    if n_tok < 1 or n_tok >= len(chart.inside):
      continue
    rows = np.flatnonzero(chart.lengths == n_tok)
    r = chart.pos[n_tok][0, rows]
    with np.errstate(divide="ignore"):
      out[rows] = np.log(chart.inside[n_tok][r] @ grammar.start) + chart.inside_scale[n_tok][r]
  return out


def _outside(grammar, plan, chart, length, scaled=True):
  beta, sb, lengths = chart.inside, chart.inside_scale, chart.lengths
  start, sent, pos = chart.start, chart.sent, chart.pos
  n = grammar.num_nonterminals
  start_row = grammar.start[None, :]
  alpha, sa = [None] * (length + 1), [None] * (length + 1)
  for w in range(length, 0, -1):
    ci, cs = start[w], sent[w]
    rows = len(ci)
    n_s = lengths[cs]
    m = np.full(rows, NEG) if scaled else np.zeros(rows)
    roots = np.flatnonzero((ci == 0) & (n_s == w))
    m[roots] = 0.0
    reg, rl, rr = [], [], []  # (rule set list, Term args without weight, log-scale)
    for u in range(1, length - w + 1):
      # Target [i, i+w) as the left child of [i, i+w+u) with sibling [i+w, i+w+u).
      if plan.out_left.any_feasible(w + u, u, w) or plan.root_left.any_feasible(w + u, u, w):
        sel = np.flatnonzero(ci + w + u <= n_s)
        pi, si = pos[w + u][ci[sel], cs[sel]], pos[u][ci[sel] + w, cs[sel]]
        kept = (pi >= 0) & (si >= 0)  # parent and sibling in the chart (always, unless pruned)
        sel, pi, si = sel[kept], pi[kept], si[kept]
        if sel.size:
          c = sa[w + u][pi] + sb[u][si] if scaled else None
          reg.append((plan.out_left, (w + u, u, w, sel, alpha[w + u], pi, beta[u], si), c))
          r = np.flatnonzero((ci[sel] == 0) & (n_s[sel] == w + u))
          if r.size:
            rl.append((plan.root_left, (w + u, u, w, sel[r], start_row, np.zeros(r.size, np.int64), beta[u],
                                        si[r]), sb[u][si[r]] if scaled else None))
      # Target [i, i+w) as the right child of [i−u, i+w) with sibling [i−u, i).
      if plan.out_right.any_feasible(w + u, u, w) or plan.root_right.any_feasible(w + u, u, w):
        sel = np.flatnonzero(ci >= u)
        pi, si = pos[w + u][ci[sel] - u, cs[sel]], pos[u][ci[sel] - u, cs[sel]]
        kept = (pi >= 0) & (si >= 0)
        sel, pi, si = sel[kept], pi[kept], si[kept]
        if sel.size:
          c = sa[w + u][pi] + sb[u][si] if scaled else None
          reg.append((plan.out_right, (w + u, u, w, sel, alpha[w + u], pi, beta[u], si), c))
          r = np.flatnonzero((ci[sel] == u) & (n_s[sel] == w + u))
          if r.size:
            rr.append((plan.root_right, (w + u, u, w, sel[r], start_row, np.zeros(r.size, np.int64), beta[u],
                                         si[r]), sb[u][si[r]] if scaled else None))
    items = reg + rl + rr
    if not items and not roots.size:
      alpha[w], sa[w] = np.zeros((rows + 1, n)), np.full(rows + 1, NEG)
      continue
    if scaled:
      for _, args, c in items:
        m[args[3]] = np.maximum(m[args[3]], c)
    full = np.zeros((rows + 1, n))
    acc = full[:rows]
    acc[roots] = grammar.start * np.exp(-m[roots])[:, None]
    for rule_set in (plan.out_left, plan.out_right, plan.root_left, plan.root_right):
      terms = [Term(*args, np.exp(c - m[args[3]]) if scaled else None) for rs, args, c in items if rs is rule_set]
      if terms:
        rule_set.contract(acc, terms, chart.need[w])
    alpha[w], sa[w] = _finish(full, m, scaled)
  chart.outside, chart.outside_scale = alpha, sa


def prefix_inside(grammar, chart, widths) -> np.ndarray:
  """β(0, w_s)[A] for every non-terminal A, root-only ones included, up to a per-sentence factor ([b, N]; zero
  where w_s > n_s). The chart holds root-only symbols at the roots only; other spans get them computed here."""
  lengths, pos, beta, sb = chart.lengths, chart.pos, chart.inside, chart.inside_scale
  plan = chart_plan(grammar, len(beta) - 1)
  out = np.zeros((len(lengths), grammar.num_nonterminals))
  for w in np.unique(widths):
    if not 1 <= w < len(beta):
      continue
    rows = np.flatnonzero((widths == w) & (lengths >= w))
    r = pos[w][0, rows]
    vec, scale = beta[w][r], sb[w][r]
    inner = np.flatnonzero(lengths[rows] > w)  # spans [0, w) that are not the root
    splits = [j for j in range(1, w) if plan.root_inside.any_feasible(j, w - j, w)]
    if inner.size and splits:
      s_rows = rows[inner]
      parts = [(j, pos[j][0, s_rows], pos[w - j][j, s_rows]) for j in splits]
      cs = [sb[j][li] + sb[w - j][ri] for j, li, ri in parts]
      m = np.max(cs, axis=0)
      acc = np.zeros((len(inner), grammar.num_nonterminals))
      plan.root_inside.contract(acc, [Term(j, w - j, w, None, beta[j], li, beta[w - j], ri, np.exp(c - m))
                                      for (j, li, ri), c in zip(parts, cs)])
      top = np.maximum(scale[inner], m)
      vec = vec.copy()
      vec[inner] = vec[inner] * np.exp(scale[inner] - top)[:, None] + acc * np.exp(m - top)[:, None]
    out[rows] = vec
  return out


def leftmost_posteriors(grammar, chart, depth: int) -> np.ndarray:
  """P(leftmost node at `depth` = A | x), [b, N]; rows sum to 1 − P(absent) (the node may not exist).

  With the leftmost-path outside γ_d(0,k)[A] = P(the depth-d node of the leftmost path is A over [0,k), x_{k:}):
    γ_0(0,n) = π,   γ_{d+1}(0,j)[B] = Σ_{k>j} Σ_{r: A→BC} p_r γ_d(0,k)[A] β(j,k)[C],
    P(node_d = A | x) = Σ_k γ_d(0,k)[A] β(0,k)[A] / p(x).
  """
  beta, sb, pos, lengths = chart.inside, chart.inside_scale, chart.pos, chart.lengths
  length, b, n = len(beta) - 1, len(lengths), grammar.num_nonterminals
  plan = chart_plan(grammar, length)
  gam = np.zeros((length + 1, b, n))  # γ_d(0, k) for k = 0..L
  gs = np.full((length + 1, b), NEG)
  cols = np.flatnonzero((lengths >= 1) & (lengths <= length))
  gam[lengths[cols], cols] = grammar.start
  gs[lengths[cols], cols] = 0.0
  for _ in range(depth):
    new = np.zeros_like(gam)
    new_s = np.full_like(gs, NEG)
    for j in range(1, length):
      parts = []
      for k in range(j + 1, length + 1):
        if not plan.all_left.any_feasible(k, k - j, j):
          continue
        sel = np.flatnonzero((lengths >= k) & (gs[k] > NEG / 2))
        if sel.size:
          yi = pos[k - j][j, sel]
          parts.append((k, sel, yi, gs[k][sel] + sb[k - j][yi]))
      if not parts:
        continue
      m = np.full(b, NEG)
      for _, sel, _, c in parts:
        m[sel] = np.maximum(m[sel], c)
      acc = np.zeros((b, n))
      plan.all_left.contract(acc, [Term(k, k - j, j, sel, gam[k], sel, beta[k - j], yi, np.exp(c - m[sel]))
                                   for k, sel, yi, c in parts])
      new[j], new_s[j] = normalise(acc, m)
    gam, gs = new, new_s
  post = np.zeros((b, n))
  for k in range(1, length + 1):
    sel = np.flatnonzero(lengths >= k)
    r = pos[k][0, sel]
    w = np.exp(np.minimum(gs[k][sel] + sb[k][r] - chart.log_likelihood[sel], 700))
    post[sel] += gam[k][sel] * beta[k][r] * w[:, None]
  return post


def conditionals_from_chart(grammar, chart, out=None) -> np.ndarray:
  """p(x_t = w | x_{−t}) [b, L, V] from the leaf outsides; zeros at padding (and where p(x_{−t}) = 0). Written into
  `out` (zeros) when given, else into a new array."""
  length = len(chart.inside) - 1
  joint = matmul_rows(chart.outside[1][:-1], grammar.emission)  # ∝ p(x_t = w, x_{−t}), one row per token
  total = joint.sum(-1, keepdims=True)
  np.divide(joint, total, out=joint, where=total > 0)  # rows with total 0 are all zero already
  if out is None:
    out = np.zeros((len(chart.lengths), length, grammar.vocab_size))
  out[chart.sent[1], chart.start[1]] = joint
  return out
