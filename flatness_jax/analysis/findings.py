"""The paper's claims, each tested at the level of pre-training seeds: the Findings table that opens report.md.

Claims (Liu, Xie, Li, Ma, ICML 2023) and how each is measured here:
1. continued training after convergence improves downstream: per run, probe accuracy at the last minus the first
   checkpoint within `saturated_gap` of the optimum; mean over runs with a t interval (and the same for Tr(H),
   which the paper says decreases);
2. larger is better at equal loss: the largest minus the smallest arm (by parameters) at their final checkpoints,
   Welch over seeds (and Tr(H), own parameterization and embedded in the largest, which the paper finds lower);
3. the training algorithm matters at fixed size: every arm minus the first arm of the same size (Δgap shows
   whether the losses are equal); the expected sign of Δaccuracy is the paper's thesis, flatter is better:
   opposite to the sign of ΔTr(H);
4. flatter is better: Spearman ρ(Tr(H), accuracy) over all measured checkpoints, resampling whole runs
   (flatness_jax.analysis.stats.cluster_bootstrap_ci), next to ρ(loss, accuracy);
5. flatness tracks downstream after controlling for size (the reviewers' question): the partial correlation of
   Tr(H) and accuracy given log(parameters), resampling whole runs;
6. pre-training vs downstream-loss flatness (the reviewers' question): ρ(Tr(H) of the probe loss, accuracy) next to
   ρ(Tr(H) of the pre-training loss, accuracy) on the same checkpoints.
A verdict needs ≥ 2 pre-training seeds per arm (and, for correlations, ≥ 3 runs and ≥ 8 checkpoints); otherwise
the measurement is shown with its own noise and the verdict is "untested: 1 seed". Each row states its n.
Claims 1–3 are about minima: a verdict is withheld ("untested: not at a minimum") when a compared checkpoint's
Hessian is measurably indefinite (flatness_jax.analysis.minima: Tr(H) below zero or below the top Ritz value).
"""
import dataclasses

import numpy as np

from flatness_jax.analysis import minima, points as points_lib, replicates, stats
from flatness_jax.analysis.tables import ci
from flatness_jax.rundir import records

TRACE = records.HUTCHINSON
EMBEDDED = records.EMBEDDED
MIN_POINTS_FOR_CORRELATION = 8
MIN_RUNS_FOR_CORRELATION = 3
# "At equal loss": the claims comparing arms at equal pre-training loss are tested only when the arms' mean final
# gaps (fraction of L*) differ by at most this much; otherwise the verdict says they are not at equal loss.
EQUAL_LOSS_TOLERANCE = 0.01

# What the paper reports, by the language's kind (../shared/DESIGN.md).
PAPER = {
    "continued": {"pcfg": "improves (Fig. 1)", "hmm": "+4.0 (67M LSTM, state at position 10)", "lm": "improves"},
    "continued_trace": {"*": "decreases"},
    "size": {"pcfg": "+6.9", "hmm": "+4.5", "lm": "+2.0 (QNLI / SST-2)"},
    "size_trace": {"*": "lower for larger (19.8 → 12.6 above 9M)"},
    "algorithm": {"pcfg": "AdamW vs adversarial: A 89.9 vs 83.1, B 49.2 vs 42.3, C 55.7 vs 50.2",
                  "*": "adversarial pre-training transfers worse at equal loss"},
    "algorithm_other": {"*": "— (the flatter arm expected better)"},
    "flatter": {"*": "negative (flatter is better)"},
    "size_control": {"*": "— (reviewers' question)"},
    "downstream": {"*": "— (reviewers' question)"},
}


def paper(claim: str, kind: str) -> str:
  table = PAPER[claim]
  return table.get(kind, table.get("*", "—"))


@dataclasses.dataclass
class Finding:
  claim: str
  language: str
  paper: str
  ours: str
  n: str
  verdict: records.Verdict
  headline: bool = True   # in the Findings table (all findings are listed under Verdicts)
  detail: str = ""        # what was compared (arms, steps)

  def line(self) -> str:
    detail = f" ({self.detail})" if self.detail else ""
    return (f"- {self.claim}{detail}, {self.language}: {self.ours} → **{self.verdict}** "
            f"(paper: {self.paper}; n: {self.n}).")


def _pts_text(c) -> str:
  return ci((c.estimate, c.low, c.high), 100, 1) + " pts"


def _saturated_span(saturated_gap):
  def pick(run_points):
    sat = [p for p in run_points if p.eval.gap_relative <= saturated_gap]
    return (sat[0], sat[-1]) if len(sat) >= 2 else None
  return pick


def continued(arms, tasks, kind, language, saturated_gap) -> list[Finding]:
  """Claim 1 for every arm with ≥ 2 converged checkpoints per run; the headline is the arm with the longest span."""
  out, spans = [], {}
  pick = _saturated_span(saturated_gap)
  for arm in arms:
    picked = [pick(arm.run_points(r)) for r in arm.runs]
    picked = [x for x in picked if x]
    if picked:
      spans[arm.name] = (picked[0][0].step, picked[0][1].step)
  if not spans:
    return out
  longest = max(b - a for a, b in spans.values())
  for arm in arms:
    if arm.name not in spans:
      continue
    a, b = spans[arm.name]
    detail = f"{arm.name}, step {a} → {b}, both within {100 * saturated_gap:.1f}% of L*"
    head = b - a == longest
    ends = [p for r in arm.runs for p in (pick(arm.run_points(r)) or ())]
    for t in tasks:
      c = replicates.within_run_change(arm, replicates.accuracy_of(t), pick, replicates.single_accuracy(t))
      if c:
        out.append(Finding(f"Continued training improves task {t}", language, paper("continued", kind),
                           _pts_text(c), c.n_text, minima.gate(c.verdict(+1), ends), head, detail))
    c = replicates.within_run_change(arm, replicates.trace_of(TRACE), pick, replicates.single_trace(TRACE))
    if c:
      out.append(Finding("Continued training lowers Tr(H)", language, paper("continued_trace", kind),
                         ci((c.estimate, c.low, c.high)), c.n_text, minima.gate(c.verdict(-1), ends), head, detail))
  return out


def _mean_gap(arm) -> float:
  return float(np.mean([replicates.gap_of(p) for p in arm.finals()]))


def _at_equal_loss(verdict: records.Verdict, a, b) -> records.Verdict:
  """The verdict, unless the two arms' mean final gaps differ by more than EQUAL_LOSS_TOLERANCE (then untested)."""
  diff = _mean_gap(a) - _mean_gap(b)
  if np.isfinite(diff) and abs(diff) > EQUAL_LOSS_TOLERANCE:
    return records.Verdict.untested(f"not at equal loss (Δgap {100 * diff:+.1f}% of L*)")
  return verdict


def _comparable(verdict: records.Verdict, a, b) -> records.Verdict:
  """The verdict of an a-vs-b comparison of minima at equal loss: withheld unless both hold (the two checks above)."""
  return minima.at_minimum(_at_equal_loss(verdict, a, b), a, b)


def _by_size(arms):
  sizes = {}
  for arm in arms:
    sizes.setdefault(arm.num_params, []).append(arm)
  return dict(sorted(sizes.items()))


def size(arms, tasks, kind, language) -> list[Finding]:
  """Claim 2: the first arm of the largest size minus the first arm of the smallest."""
  sizes = _by_size(arms)
  if len(sizes) < 2:
    return []
  small, big = list(sizes.values())[0][0], list(sizes.values())[-1][0]
  gaps = "/".join(f"{100 * _mean_gap(a):.2f}" for a in (big, small))
  detail = f"{big.name} {big.num_params:,} vs {small.name} {small.num_params:,} params, gaps {gaps}% of L*"
  out = []
  for t in tasks:
    c = replicates.compare_arms(big, small, replicates.accuracy_of(t), replicates.single_accuracy(t))
    if c:
      out.append(Finding(f"Larger is better at equal loss, task {t}", language, paper("size", kind), _pts_text(c),
                         c.n_text, _comparable(c.verdict(+1), big, small), True, detail))
  for label, key in (("own parameterization", TRACE), ("embedded in the largest", EMBEDDED)):
    c = replicates.compare_arms(big, small, replicates.trace_of(key), replicates.single_trace(key))
    if c:
      out.append(Finding(f"Larger is flatter, Tr(H) {label}", language, paper("size_trace", kind),
                         ci((c.estimate, c.low, c.high)), c.n_text, minima.at_minimum(c.verdict(-1), big, small),
                         key == TRACE, detail))
  return out


def _two_sided(c) -> records.Verdict:
  """Differs when a tested interval excludes zero (no direction expected), else why not."""
  if not c.tested:
    return stats.UNTESTED
  return records.Verdict(records.NOT_SIGNIFICANT if c.low <= 0 <= c.high else records.DIFFERS)


def algorithm(arms, tasks, kind, language) -> list[Finding]:
  """Claim 3: each arm minus the first arm of its size, with Δgap and ΔTr(H) to read it by."""
  out = []
  for group in _by_size(arms).values():
    ref = group[0]
    for arm in group[1:]:
      detail = f"{arm.name} − {ref.name}"
      gap = replicates.compare_arms(arm, ref, replicates.gap_of, points_lib.gap_difference)
      trace = replicates.compare_arms(arm, ref, replicates.trace_of(TRACE), replicates.single_trace(TRACE))
      if gap:
        out.append(Finding("Equal pre-training loss (Δgap, % of L*)", language, "equal", ci(
            (gap.estimate, gap.low, gap.high), 100), gap.n_text, _two_sided(gap), False, detail))
      if trace:
        out.append(Finding("ΔTr(H) at fixed size", language, "—", ci((trace.estimate, trace.low, trace.high)),
                           trace.n_text, minima.at_minimum(_two_sided(trace), arm, ref), False, detail))
      flatter = -1 if trace and trace.estimate > 0 else +1  # expected sign of Δacc: the flatter arm is better
      note = (f"{detail}; {arm.name} is {'flatter' if flatter > 0 else 'sharper'}, so expected "
              f"{'better' if flatter > 0 else 'worse'}; gaps {100 * _mean_gap(arm):.2f}/{100 * _mean_gap(ref):.2f}% of L*")
      claim = "algorithm" if "adversarial" in arm.name else "algorithm_other"
      for t in tasks:
        c = replicates.compare_arms(arm, ref, replicates.accuracy_of(t), replicates.single_accuracy(t))
        if c:
          out.append(Finding(f"The algorithm matters at fixed size, task {t}", language, paper(claim, kind),
                             _pts_text(c), c.n_text, _comparable(c.verdict(flatter), arm, ref), True, note))
  return out


def _correlation(pts, x_of, y_of, covariate=None):
  """(estimate, low, high, runs, checkpoints, why) of ρ(x, y) (or partial r given covariate) over points, resampling
  whole runs; why = None when a verdict may be drawn, else the untested Verdict saying why not."""
  use = [p for p in pts if np.isfinite(x_of(p)) and np.isfinite(y_of(p))]
  runs = sorted({p.run for p in use})
  if len(use) < 3 or len(runs) < 2:
    return None
  x = np.array([x_of(p) for p in use])
  y = np.array([y_of(p) for p in use])
  cl = np.array([runs.index(p.run) for p in use])
  if covariate is None:
    est, lo, hi = stats.cluster_bootstrap_ci(stats.spearman, cl, x, y)
  else:
    z = np.array([covariate(p) for p in use])
    if len(set(z.tolist())) < 2:
      return None
    est, lo, hi = stats.cluster_bootstrap_ci(stats.partial_correlation, cl, x, y, z)
  why = None
  if min(a.num_seeds for a in replicates.arms_of(use)) < 2:
    why = stats.UNTESTED
  elif len(runs) < MIN_RUNS_FOR_CORRELATION:
    why = records.Verdict.untested(f"{len(runs)} runs")
  elif len(use) < MIN_POINTS_FOR_CORRELATION:
    why = records.Verdict.untested(f"{len(use)} checkpoints")
  return est, lo, hi, len(runs), len(use), why


def _corr_finding(claim, language, paper_text, res, expected, headline=True, detail="") -> Finding:
  est, lo, hi, runs, n, why = res
  return Finding(claim, language, paper_text, ci((est, lo, hi)), f"{runs} runs, {n} checkpoints",
                 why or stats.verdict(lo, hi, expected), headline, detail)


def correlations(pts, tasks, kind, language) -> list[Finding]:
  """Claims 4–6 over every measured checkpoint of the language's runs."""
  out = []
  tr = replicates.trace_of(TRACE)
  loss = lambda p: p.eval.eval_loss  # pylint: disable=unnecessary-lambda-assignment
  logp = lambda p: float(np.log(max(p.num_params, 1)))  # pylint: disable=unnecessary-lambda-assignment
  for t in tasks:
    acc = replicates.accuracy_of(t)
    res = _correlation(pts, tr, acc)
    if res:
      out.append(_corr_finding(f"Flatter is better, task {t}: ρ(Tr(H), acc)", language, paper("flatter", kind),
                               res, -1))
      res_l = _correlation(pts, loss, acc)
      if res_l:
        out.append(_corr_finding(f"Loss tracks accuracy, task {t}: ρ(loss, acc)", language, "—", res_l, -1, False))
    res = _correlation(pts, tr, acc, covariate=logp)
    if res:
      out.append(_corr_finding(f"Flatness beyond size, task {t}: partial r(Tr(H), acc | log params)", language,
                               paper("size_control", kind), res, -1))
    down = lambda p, t=t: p.curvature.downstream.get(t, records.MISSING).value
    res = _correlation([p for p in pts if np.isfinite(down(p))], down, acc)
    if res:
      out.append(_corr_finding(f"Downstream-loss flatness, task {t}: ρ(Tr(H_probe), acc)", language,
                               paper("downstream", kind), res, -1))
      res_p = _correlation([p for p in pts if np.isfinite(down(p))], tr, acc)
      if res_p:
        out.append(_corr_finding(f"Pre-training flatness on the same checkpoints, task {t}: ρ(Tr(H), acc)",
                                 language, paper("flatter", kind), res_p, -1, False))
  return out


def findings(pts, tasks, kinds: dict, saturated_gap: float) -> list[Finding]:
  """Every finding, language by language (kinds: language name → 'pcfg' | 'hmm' | 'lm')."""
  out = []
  for language in dict.fromkeys(p.language for p in pts):
    mine = [p for p in pts if p.language == language]
    kind = kinds.get(language, "")
    arms = replicates.arms_of(mine)
    out += continued(arms, tasks, kind, language, saturated_gap)
    out += size(arms, tasks, kind, language)
    out += algorithm(arms, tasks, kind, language)
    out += correlations(mine, tasks, kind, language)
  return out


def table(found: list[Finding]) -> list[str]:
  """The Findings table: headline findings, one row each."""
  lines = ["| claim | language | paper | ours (95% CI) | n | verdict |", "|---|---|---|---|---|---|"]
  for f in found:
    if f.headline:
      claim = f"{f.claim} ({f.detail})" if f.detail else f.claim
      lines.append(f"| {claim} | {f.language} | {f.paper} | {f.ours} | {f.n} | **{f.verdict}** |")
  return lines
