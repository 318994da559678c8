"""Batched inside–outside for a CNF PCFG (numpy, float64, per-span scaling, sparse or block-dense rules).

For a sentence x_0..x_{n−1} and a span [i, k), the inside and outside probabilities are
  β(i,k)[A] = P(A ⇒* x_i..x_{k−1}),
  α(i,k)[A] = P(S ⇒* x_0..x_{i−1} A x_k..x_{n−1}),
with β(t,t+1)[A] = e(A, x_t),  β(i,k)[A] = Σ_{i<j<k} Σ_{r: A→BC} p_r β(i,j)[B] β(j,k)[C],  α(0,n)[A] = π(A),
  α(i,j)[B] = Σ_{k>j} Σ_{r: A→BC} p_r α(i,k)[A] β(j,k)[C] + Σ_{h<i} Σ_{r: A→CB} p_r α(h,j)[A] β(h,i)[C].
The outside of a span depends only on the words outside it, so one pass gives every masked conditional at once
(the masked leaf summed out):  p(x_t = w | x_{−t}) = Σ_A α(t,t+1)[A] e(A, w) / Σ_A α(t,t+1)[A] Σ_w' e(A, w')
(Lari & Young 1990; Liu et al. 2023, §2, for the optimal loss).

Vectorisation. A chart holds, per width w, one row per span [i, i+w) of every sentence of the batch that it fits
in (i + w ≤ n): inside[w] is [#spans, N], and one numpy step handles all of them. Each recursion above has the form
out[t] = Σ_s Σ_r p_r x_s[a_r] y_s[b_r] over terms s (the splits of a span, or its possible parents), with three
roles per rule (gathered a, gathered b, target t). The rules of each role split into the connected components of
their (a, b) graph (`RuleSet`):
  * a component that fills a good part of its block aset × bset (a level's rules over pairs of the next level, as
    in balanced and level-structured grammars) is contracted densely: M = Σ_s x_s[aset] ⊗ y_s[bset] as one batched
    matrix product over the terms, then out = M · W with the [|aset|·|bset|, targets] rule matrix (BLAS);
  * other rules go through gathers and a segment sum over their targets, O(#rules) per span and term.
Rules of root-only non-terminals (start symbols never used as a child, e.g. the released grammar's S1..S9) are
applied at the sentence roots only. Terms where no rule can derive the lengths involved (`yield_lengths`) are
skipped, which for balanced grammars leaves only the power-of-two splits. Each span's vector is stored normalised
to max 1 with its log-scale, so sentences of any length stay in range (raw float64 probabilities underflow after
roughly 150 tokens of a 200-word grammar).
"""
import dataclasses
import functools

import numpy as np

NEG = -1e30  # log-scale of an all-zero vector (finite, so differences of two such stay 0, not nan)
DENSE_FILL = 4.0  # a component is contracted densely when |aset|·|bset| ≤ DENSE_FILL · #rules
DENSE_MIN = 16    # ... and has at least this many (a, b) pairs (tiny blocks are cheaper as gathers)
GEMM_ROWS = 256   # rows per BLAS call: small calls stay single-threaded (no thread contention on shared CPUs)


def _index(ids):
  """A slice when the sorted ids are contiguous (views instead of gathers), else the id array."""
  ids = np.asarray(ids)
  if ids.size and ids[-1] - ids[0] + 1 == ids.size:
    return slice(int(ids[0]), int(ids[-1]) + 1)
  return ids


def matmul_rows(a, b):
  """a [n, k] @ b [k, m] in row chunks of GEMM_ROWS (each BLAS call small enough to run single-threaded)."""
  n = a.shape[0]
  if n <= GEMM_ROWS:
    return a @ b
  full = n // GEMM_ROWS * GEMM_ROWS
  out = np.empty((n, b.shape[1]))
  out[:full] = np.matmul(a[:full].reshape(-1, GEMM_ROWS, a.shape[1]), b).reshape(full, -1)
  if full < n:
    out[full:] = a[full:] @ b
  return out


@dataclasses.dataclass
class Term:
  """One term of a contraction: rows `sel` of the output (None: all) get weight · Σ_r p_r x[a_r] y[b_r], with
  x = xsrc[xidx], y = ysrc[yidx]; (la, lb, lt) are the span lengths of the a, b and target roles."""
  la: int
  lb: int
  lt: int
  sel: object
  xsrc: np.ndarray
  xidx: np.ndarray
  ysrc: np.ndarray
  yidx: np.ndarray
  weight: np.ndarray

  def xb(self, cols):
    """xsrc[xidx][:, cols] in one gather."""
    if isinstance(cols, slice):
      return np.take(self.xsrc[:, cols], self.xidx, axis=0)
    return self.xsrc[self.xidx[:, None], cols]

  def yb(self, cols):
    """ysrc[yidx][:, cols] in one gather."""
    if isinstance(cols, slice):
      return np.take(self.ysrc[:, cols], self.yidx, axis=0)
    return self.ysrc[self.yidx[:, None], cols]

  @functools.cached_property
  def x(self):
    """The gathered rows x = xsrc[xidx] (for the sparse rules)."""
    return np.take(self.xsrc, self.xidx, axis=0)

  @functools.cached_property
  def y(self):
    """The gathered rows y = ysrc[yidx] (for the sparse rules)."""
    return np.take(self.ysrc, self.yidx, axis=0)


class RuleSet:
  """Binary rules in one orientation: gathered sides (a, b), target t; `contract` sums them over terms.

  `feasible` [N, L+1] says which symbol derives spans of which length; a term (la, lb, lt) uses only the rules
  whose three symbols can derive spans of those lengths.
  """

  def __init__(self, a, b, t, p, feasible):
    self.a, self.b, self.t, self.p = (np.asarray(x) for x in (a, b, t, p))
    self.feasible = feasible
    parent = {}

    def find(x):
      while parent.setdefault(x, x) != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
      return x

    for x, y in zip(self.a, self.b):
      parent[find(("a", int(x)))] = find(("b", int(y)))
    comps = {}
    for r, x in enumerate(self.a):
      comps.setdefault(find(("a", int(x))), []).append(r)
    self.blocks = []  # (rule ids, aset, bset, targets, W [|aset|·|bset|, T], |aset|, |bset|)
    sparse = []
    for rules in comps.values():
      rules = np.asarray(rules)
      aset, ai = np.unique(self.a[rules], return_inverse=True)
      bset, bi = np.unique(self.b[rules], return_inverse=True)
      if DENSE_MIN <= len(aset) * len(bset) <= DENSE_FILL * len(rules):
        targets, ti = np.unique(self.t[rules], return_inverse=True)
        w = np.zeros((len(aset) * len(bset), len(targets)))
        np.add.at(w, (ai * len(bset) + bi, ti), self.p[rules])
        self.blocks.append((rules, _index(aset), _index(bset), _index(targets), w, len(aset), len(bset)))
      else:
        sparse.append(rules)
    self.sparse_rules = np.concatenate(sparse) if sparse else np.zeros(0, np.int64)
    # Feasibility of the two length patterns the charts use: lt = la + lb (inside) and la = lt + lb (outside).
    fa, fb, ft = feasible[self.a], feasible[self.b], feasible[self.t]  # [R, L+1]
    size = feasible.shape[1]
    self._sum_ok = np.zeros((size, size), bool)
    self._diff_ok = np.zeros((size, size), bool)
    for k in range(size):
      self._sum_ok[k, :size - k] = (fa[:, k:k + 1] & fb[:, :size - k] & ft[:, k:]).any(0)
      self._diff_ok[k, :size - k] = (fa[:, k:] & fb[:, :size - k] & ft[:, k:k + 1]).any(0)

  @functools.lru_cache(maxsize=None)
  def _block_ok(self, k, la, lb, lt):
    rules = self.blocks[k][0]
    f = self.feasible
    return bool(np.any(f[self.a[rules], la] & f[self.b[rules], lb] & f[self.t[rules], lt]))

  @functools.lru_cache(maxsize=None)
  def _sparse_pack(self, la, lb, lt):
    r = self.sparse_rules
    f = self.feasible
    r = r[f[self.a[r], la] & f[self.b[r], lb] & f[self.t[r], lt]]
    if not r.size:
      return None
    r = r[np.argsort(self.t[r], kind="stable")]
    keys = self.t[r]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return self.a[r], self.b[r], self.p[r], starts, keys[starts]

  def any_feasible(self, la, lb, lt) -> bool:
    """Whether some rule's symbols derive spans of lengths (la, lb, lt)."""
    if lt == la + lb:
      return bool(self._sum_ok[la, lb])
    if la == lt + lb:
      return bool(self._diff_ok[lt, lb])
    f = self.feasible
    return bool(np.any(f[self.a, la] & f[self.b, lb] & f[self.t, lt]))

  def contract(self, acc, terms):
    """acc[sel, t] += weight · Σ_r p_r x[a_r] y[b_r] for every term (acc [rows, N])."""
    rows = acc.shape[0]
    for k, (_, aset, bset, targets, w, na, nb) in enumerate(self.blocks):
      sel = [tm for tm in terms if self._block_ok(k, tm.la, tm.lb, tm.lt)]
      if not sel:
        continue
      if len(sel) == 1:
        tm = sel[0]
        x = tm.xb(aset); x *= tm.weight[:, None]
        m = x[:, :, None] * tm.yb(bset)[:, None, :]
        out = matmul_rows(m.reshape(len(m), na * nb), w)
        if tm.sel is None:
          acc[:, targets] += out
        else:
          _add_rows(acc, tm.sel, targets, out)
        continue
      alloc = np.empty if all(tm.sel is None for tm in sel) else np.zeros
      xs = alloc((len(sel), rows, na))
      ys = alloc((len(sel), rows, nb))
      for s, tm in enumerate(sel):
        if tm.sel is None:
          np.multiply(tm.xb(aset), tm.weight[:, None], out=xs[s])
          ys[s] = tm.yb(bset)
        else:
          xs[s, tm.sel] = tm.xb(aset) * tm.weight[:, None]
          ys[s, tm.sel] = tm.yb(bset)
      m = np.matmul(xs.transpose(1, 2, 0), ys.transpose(1, 0, 2))
      acc[:, targets] += matmul_rows(m.reshape(rows, na * nb), w)
    if self.sparse_rules.size:
      for tm in terms:
        pack = self._sparse_pack(tm.la, tm.lb, tm.lt)
        if pack is None:
          continue
        ga, gb, prob, starts, targets = pack
        prod = tm.x[:, ga] * tm.y[:, gb]
        prod *= prob
        red = np.add.reduceat(prod, starts, axis=-1)
        red *= tm.weight[:, None]
        if tm.sel is None:
          acc[:, targets] += red
        else:
          _add_rows(acc, tm.sel, targets, red)


def _add_rows(acc, sel, cols, val):
  """acc[sel][:, cols] += val for unique row indices `sel`."""
  if isinstance(cols, slice):
    acc[sel, cols] += val
  else:
    acc[np.ix_(sel, cols)] += val


class ChartPlan:
  """The rules of a grammar in each orientation, for sentences padded to `length` tokens."""

  def __init__(self, grammar, length: int):
    g = grammar
    feas = np.zeros((g.num_nonterminals, length + 1), bool)
    n_feas = min(length, g.max_length)
    feas[:, :n_feas + 1] = g.yield_lengths[:, :n_feas + 1]
    self.length = length
    self.feasible = feas
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


@functools.lru_cache(maxsize=16)
def _plan_cached(grammar, length):
  return ChartPlan(grammar, length)


def chart_plan(grammar, length: int) -> ChartPlan:
  """The (cached) plan of a grammar for sentences padded to `length` tokens."""
  return _plan_cached(grammar, int(length))


def normalise(acc, m):
  """Scales each row of acc to max 1; returns it and the log-scale m + log(max) (NEG where zero)."""
  norm = acc.max(-1)
  pos = norm > 0
  safe = np.where(pos, norm, 1.0)
  acc /= safe[..., None]
  return acc, np.where(pos, m + np.log(safe), NEG)


@dataclasses.dataclass
class Chart:
  """Per width w: span rows (start[w][c], sent[w][c]) with i + w ≤ n, row index pos[w][i, s] (−1: no such span),
  normalised inside[w] / outside[w] [#rows, N] and their log-scales [#rows] (true β = vector · exp(scale))."""
  lengths: np.ndarray
  start: list
  sent: list
  pos: list
  inside: list
  inside_scale: list
  outside: list = None
  outside_scale: list = None
  log_likelihood: np.ndarray = None  # [b]: log p(x)

def _spans(lengths, length):
  start, sent, pos = [None] * (length + 1), [None] * (length + 1), [None] * (length + 1)
  for w in range(1, length + 1):
    ok = np.arange(length - w + 1)[:, None] + w <= lengths[None, :]
    start[w], sent[w] = np.nonzero(ok)
    pos[w] = np.full(ok.shape, -1)
    pos[w][start[w], sent[w]] = np.arange(len(start[w]))
  return start, sent, pos


def compute_chart(grammar, tokens, lengths, with_outside: bool = True) -> Chart:
  """Inside (and outside) charts for a padded batch `tokens` [b, L] (−1 or anything past `lengths`)."""
  tokens = np.asarray(tokens)
  lengths = np.asarray(lengths, np.int64)
  b, length = tokens.shape
  plan = chart_plan(grammar, length)
  n = grammar.num_nonterminals
  start, sent, pos = _spans(lengths, length)
  beta, sb = [None] * (length + 1), [None] * (length + 1)
  beta[1], sb[1] = normalise(grammar.emission.T[tokens[sent[1], start[1]]].copy(), np.zeros(len(start[1])))
  for w in range(2, length + 1):
    ci, cs = start[w], sent[w]
    rows = len(ci)
    root = np.flatnonzero((ci == 0) & (lengths[cs] == w))
    splits = [j for j in range(1, w) if plan.inside.any_feasible(j, w - j, w)
              or (root.size and plan.root_inside.any_feasible(j, w - j, w))]
    if not splits:
      beta[w], sb[w] = np.zeros((rows, n)), np.full(rows, NEG)
      continue
    m = np.full(rows, NEG)
    parts = []
    for j in splits:
      li, ri = pos[j][ci, cs], pos[w - j][ci + j, cs]
      c = sb[j][li] + sb[w - j][ri]
      np.maximum(m, c, out=m)
      parts.append((j, li, ri, c))
    acc = np.zeros((rows, n))
    plan.inside.contract(acc, [Term(j, w - j, w, None, beta[j], li, beta[w - j], ri, np.exp(c - m))
                               for j, li, ri, c in parts])
    if root.size:
      plan.root_inside.contract(acc, [Term(j, w - j, w, root, beta[j], li[root], beta[w - j], ri[root],
                                           np.exp(c[root] - m[root])) for j, li, ri, c in parts])
    beta[w], sb[w] = normalise(acc, m)
  chart = Chart(lengths=lengths, start=start, sent=sent, pos=pos, inside=beta, inside_scale=sb)
  chart.log_likelihood = _log_likelihood(grammar, chart)
  if with_outside:
    _outside(grammar, plan, chart, length)
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


def _outside(grammar, plan, chart, length):
  beta, sb, lengths = chart.inside, chart.inside_scale, chart.lengths
  start, sent, pos = chart.start, chart.sent, chart.pos
  n = grammar.num_nonterminals
  start_row = grammar.start[None, :]
  alpha, sa = [None] * (length + 1), [None] * (length + 1)
  for w in range(length, 0, -1):
    ci, cs = start[w], sent[w]
    rows = len(ci)
    n_s = lengths[cs]
    m = np.full(rows, NEG)
    roots = np.flatnonzero((ci == 0) & (n_s == w))
    m[roots] = 0.0
    reg, rl, rr = [], [], []  # (rule set list, Term args without weight, log-scale)
    for u in range(1, length - w + 1):
      # Target [i, i+w) as the left child of [i, i+w+u) with sibling [i+w, i+w+u).
      if plan.out_left.any_feasible(w + u, u, w) or plan.root_left.any_feasible(w + u, u, w):
        sel = np.flatnonzero(ci + w + u <= n_s)
        if sel.size:
          pi, si = pos[w + u][ci[sel], cs[sel]], pos[u][ci[sel] + w, cs[sel]]
          c = sa[w + u][pi] + sb[u][si]
          reg.append((plan.out_left, (w + u, u, w, sel, alpha[w + u], pi, beta[u], si), c))
          r = np.flatnonzero((ci[sel] == 0) & (n_s[sel] == w + u))
          if r.size:
            rl.append((plan.root_left, (w + u, u, w, sel[r], start_row, np.zeros(r.size, np.int64), beta[u],
                                        si[r]), sb[u][si[r]]))
      # Target [i, i+w) as the right child of [i−u, i+w) with sibling [i−u, i).
      if plan.out_right.any_feasible(w + u, u, w) or plan.root_right.any_feasible(w + u, u, w):
        sel = np.flatnonzero(ci >= u)
        if sel.size:
          pi, si = pos[w + u][ci[sel] - u, cs[sel]], pos[u][ci[sel] - u, cs[sel]]
          c = sa[w + u][pi] + sb[u][si]
          reg.append((plan.out_right, (w + u, u, w, sel, alpha[w + u], pi, beta[u], si), c))
          r = np.flatnonzero((ci[sel] == u) & (n_s[sel] == w + u))
          if r.size:
            rr.append((plan.root_right, (w + u, u, w, sel[r], start_row, np.zeros(r.size, np.int64), beta[u],
                                         si[r]), sb[u][si[r]]))
    items = reg + rl + rr
    if not items and not roots.size:
      alpha[w], sa[w] = np.zeros((rows, n)), np.full(rows, NEG)
      continue
    for _, args, c in items:
      m[args[3]] = np.maximum(m[args[3]], c)
    acc = np.zeros((rows, n))
    acc[roots] = grammar.start * np.exp(-m[roots])[:, None]
    for rule_set in (plan.out_left, plan.out_right, plan.root_left, plan.root_right):
      terms = [Term(*args, np.exp(c - m[args[3]])) for rs, args, c in items if rs is rule_set]
      if terms:
        rule_set.contract(acc, terms)
    alpha[w], sa[w] = normalise(acc, m)
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


def conditionals_from_chart(grammar, chart) -> np.ndarray:
  """p(x_t = w | x_{−t}) [b, L, V] from the leaf outsides; zeros at padding (and where p(x_{−t}) = 0)."""
  length = len(chart.inside) - 1
  joint = matmul_rows(chart.outside[1], grammar.emission)  # ∝ p(x_t = w, x_{−t}), one row per real token
  total = joint.sum(-1, keepdims=True)
  cond = np.divide(joint, total, out=np.zeros_like(joint), where=total > 0)
  out = np.zeros((len(chart.lengths), length, grammar.vocab_size))
  out[chart.sent[1], chart.start[1]] = cond
  return out
