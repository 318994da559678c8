"""The rule-contraction engine of the batched inside–outside charts (flatness_jax.data.inside_outside).

A chart holds, per width w, one row per span [i, i+w) of every sentence of the batch that it fits in (i + w ≤ n):
inside[w] is [#spans, N], and one numpy step handles all of them. Each inside or outside recursion step has the form
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
roughly 150 tokens of a 200-word grammar); a term's weight carries the scales (None in an unscaled chart: raw
probabilities, where inside_outside.log_floor shows no underflow is possible).
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
  x = xsrc[xidx], y = ysrc[yidx]; (la, lb, lt) are the span lengths of the a, b and target roles. weight None: 1
  (an unscaled chart)."""
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

  def contract(self, acc, terms, need=None):
    """acc[sel, t] += weight · Σ_r p_r x[a_r] y[b_r] for every term (acc [rows, N]). need [rows, N] bool (a
    pruned chart's reachable symbols): a dense block runs only at the rows that need one of its targets (the other
    rows' values of those targets are left out, i.e. may be incomplete)."""
    rows = acc.shape[0]
    for k, (_, aset, bset, targets, w, na, nb) in enumerate(self.blocks):
      sel = [tm for tm in terms if self._block_ok(k, tm.la, tm.lb, tm.lt)]
      if not sel:
        continue
      at = None  # the rows this block runs at (None: all)
      if need is not None:
        wanted = need[:, targets].any(1)
        if not wanted.any():
          continue
        if not wanted.all():
          at = np.flatnonzero(wanted)
          sel = [t for t in (_restrict(tm, wanted, at) for tm in sel) if t is not None]
          if not sel:
            continue
      local, out = _block_product(sel, rows if at is None else len(at), aset, bset, w, na, nb)
      if at is not None:
        local = at if local is None else at[local]
      if local is None:
        acc[:, targets] += out
      else:
        _add_rows(acc, local, targets, out)
    if self.sparse_rules.size:
      for tm in terms:
        pack = self._sparse_pack(tm.la, tm.lb, tm.lt)
        if pack is None:
          continue
        ga, gb, prob, starts, targets = pack
        prod = tm.x[:, ga] * tm.y[:, gb]
        prod *= prob
        red = np.add.reduceat(prod, starts, axis=-1)
        if tm.weight is not None:
          red *= tm.weight[:, None]
        if tm.sel is None:
          acc[:, targets] += red
        else:
          _add_rows(acc, tm.sel, targets, red)


def _block_product(terms, rows, aset, bset, w, na, nb):
  """(sel, out [#sel, T]): Σ over terms of weight · (x[aset] ⊗ y[bset]) · W at rows sel (None: all `rows`), the
  outer products summed per row first (one batched product over the terms) and multiplied by the block's rule
  matrix W [|aset|·|bset|, T] once."""
  if len(terms) == 1:
    tm = terms[0]
    x = tm.xb(aset)
    if tm.weight is not None:
      x *= tm.weight[:, None]
    return tm.sel, matmul_rows((x[:, :, None] * tm.yb(bset)[:, None, :]).reshape(len(x), na * nb), w)
  alloc = np.empty if all(tm.sel is None for tm in terms) else np.zeros
  xs = alloc((len(terms), rows, na))
  ys = alloc((len(terms), rows, nb))
  for s, tm in enumerate(terms):
    x = tm.xb(aset)
    if tm.weight is not None:
      x *= tm.weight[:, None]
    if tm.sel is None:
      xs[s] = x
      ys[s] = tm.yb(bset)
    else:
      xs[s, tm.sel] = x
      ys[s, tm.sel] = tm.yb(bset)
  m = np.matmul(xs.transpose(1, 2, 0), ys.transpose(1, 0, 2))
  return None, matmul_rows(m.reshape(rows, na * nb), w)


def _restrict(tm, wanted, at):
  """The term on the rows `at` (= flatnonzero(wanted)) only, its `sel` renumbered into them; None if empty."""
  pick = lambda w, idx: None if w is None else w[idx]
  if tm.sel is None:
    return Term(tm.la, tm.lb, tm.lt, None, tm.xsrc, tm.xidx[at], tm.ysrc, tm.yidx[at], pick(tm.weight, at))
  keep = wanted[tm.sel]
  if not keep.any():
    return None
  sel = np.searchsorted(at, tm.sel[keep])
  return Term(tm.la, tm.lb, tm.lt, sel, tm.xsrc, tm.xidx[keep], tm.ysrc, tm.yidx[keep], pick(tm.weight, keep))


def _add_rows(acc, sel, cols, val):
  """acc[sel][:, cols] += val for unique row indices `sel`."""
  if isinstance(cols, slice):
    acc[sel, cols] += val
  else:
    acc[np.ix_(sel, cols)] += val


def normalise(acc, m):
  """Scales each row of acc to max 1; returns it and the log-scale m + log(max) (NEG where zero)."""
  norm = acc.max(-1)
  pos = norm > 0
  safe = np.where(pos, norm, 1.0)
  acc /= safe[..., None]
  return acc, np.where(pos, m + np.log(safe), NEG)
