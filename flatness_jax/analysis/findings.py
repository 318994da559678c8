"""Every row of a report, language by language: the declared claims on the primary task (confirmatory, tested as
one family by flatness_jax.analysis.family) and every other comparison the records allow (exploratory).

How each claim of Liu, Xie, Li, Ma (ICML 2023) is measured here (flatness_jax.analysis.claims names them):
1. continued: per run, probe accuracy at the last minus an earlier converged checkpoint of equal loss. The span is
   common to the arm's runs: it ends at the last checkpoint all runs share and starts at the earliest shared
   checkpoint within `saturated_gap` of L* whose mean gap is within half the equal-loss margin of the last one's;
   the equal-loss gate then tests the span's Δgap over runs. So the row is the change in accuracy between two
   checkpoints whose losses are equivalent, mean over runs with a t interval. With several arms the confirmatory
   one has the most runs (then the longest span; then the first name).
2. size: the largest minus the smallest model size at their final checkpoints (the reference arm of each size).
3. algorithm: each adversarial arm minus the arm its λ tracked (adversarial.match_gap_of; else its size's reference
   arm), expected worse: the paper's claim fixes the direction, whatever ΔTr(H) does (a separate, exploratory row).
4. flatter: Spearman ρ(Tr(H), accuracy) over converged checkpoints (within `saturated_gap` and at a minimum),
   resampling whole runs (flatness_jax.analysis.cluster).
5. flatness_beyond_size: partial r(Tr(H), accuracy | log params) over the same checkpoints.
6. downstream_flatness: ρ(Tr(H) of the probe loss, accuracy) over the same checkpoints that have it.
7. drift: the log–log slope of the post-convergence drift rate of Tr(H) against the batch size
   (flatness_jax.analysis.drift).
Every row carries its gates (flatness_jax.analysis.gates): equal loss, at a minimum, converged, runs. The reference
arm of a size is the one another arm's λ tracked, else the only AdamW arm with the standard algorithm, else the
first by name: never the order of the run directories.
"""
import numpy as np

from flatness_jax.analysis import claims as claims_lib, cluster, drift, family, gates, points as points_lib
from flatness_jax.analysis import replicates
from flatness_jax.rundir import records

TRACE = records.HUTCHINSON
EMBEDDED = records.EMBEDDED
PTS, PCT = 100.0, 100.0


class Context:
  """One language's records and the report's family (claims.Declaration) and settings (claims.Settings)."""

  def __init__(self, language, pts, runs, decl, settings):
    self.language, self.pts, self.runs = language, pts, runs
    self.decl, self.settings = decl, settings
    self.arms = replicates.arms_of(pts)
    self.design = replicates.seed_design(self.arms)
    self.kind = next((r.data_kind for r in runs if r.data_kind), "")
    self.primary = decl.primary.get(language, "")
    self.tasks = list(dict.fromkeys(t for r in runs for t in r.probes.tasks))

  def confirmatory(self, claim: str, task: str = "") -> bool:
    return claim in self.decl.claims and (not task or task == self.primary)

  def claim_fields(self, claim: str, task: str = "") -> dict:
    """The Draft fields a claim fixes (confirmatory flag, direction, the paper's text and effect)."""
    c = claims_lib.CLAIMS[claim]
    return {"claim": claim, "confirmatory": self.confirmatory(claim, task), "expected": c.expected,
            "paper": c.paper_text(self.kind), "paper_effect": c.paper_effect(self.kind), "language": self.language}

  def placeholder(self, claim: str, why: str) -> family.Draft:
    """The declared row of a claim these records cannot measure (untested, counted in the family)."""
    c = claims_lib.CLAIMS[claim]
    task = "" if claim == "drift" else self.primary
    return family.Draft(title=f"{c.title}, task {task}" if task else c.title, unit=c.unit, task=task,
                        gates=(gates.Gate("runs", False, why),), **self.claim_fields(claim, task))


def _single_gap(level=gates.EQUIVALENCE_LEVEL):
  return lambda a, b: points_lib.gap_difference(a, b, level)


def reference_arm(group):
  """The reference arm of arms of one size (module docstring)."""
  names = {a.name for a in group}
  tracked = {a.reference for a in group} & names
  if len(tracked) == 1:
    return next(a for a in group if a.name in tracked)
  adamw = [a for a in group if a.algorithm == "standard" and a.config.get("optimizer", {}).get("name") == "adamw"]
  if len(adamw) == 1:
    return adamw[0]
  return sorted(group, key=lambda a: a.name)[0]


def _by_size(arms) -> dict:
  sizes = {}
  for arm in arms:
    sizes.setdefault(arm.num_params, []).append(arm)
  return dict(sorted(sizes.items()))


# ------------------------------------------------------------------------------------------ continued training
def continued_span(arm, margin: float, saturated_gap: float):
  """(start, last, {run: (first point, last point)}) of the arm's common equal-loss span (module docstring), or
  None without two converged checkpoints common to its runs."""
  by_run = {r: {p.step: p for p in arm.run_points(r)} for r in arm.runs}
  common = sorted(set.intersection(*(set(s) for s in by_run.values()))) if by_run else []
  def gap(s):
    return np.array([by_run[r][s].eval.gap_relative for r in arm.runs])
  converged = [s for s in common if np.all(np.isfinite(gap(s))) and np.all(gap(s) <= saturated_gap)]
  if len(converged) < 2:
    return None
  last = converged[-1]
  start = next((s for s in converged[:-1] if abs(gap(s).mean() - gap(last).mean()) <= margin / 2), converged[-2])
  return start, last, {r: (by_run[r][start], by_run[r][last]) for r in arm.runs}


def continued(ctx: Context) -> list:
  spans = {a.name: continued_span(a, ctx.decl.margin, ctx.settings.saturated_gap) for a in ctx.arms}
  with_span = [a for a in ctx.arms if spans[a.name]]
  out = []
  if not with_span:
    if ctx.confirmatory("continued"):
      out.append(ctx.placeholder("continued", "too few runs: no two converged checkpoints common to an arm's runs"))
    return out
  head = min(with_span, key=lambda a: (-a.num_seeds, -(spans[a.name][1] - spans[a.name][0]), a.name))
  for arm in with_span:
    start, last, pairs = spans[arm.name]
    detail = f"{arm.name}, step {start} → {last} in each of its {arm.num_seeds} runs"
    change = lambda value, single: replicates.within_run_change(arm, value, pairs, single)  # pylint: disable=cell-var-from-loop
    base = (gates.equal_loss(change(replicates.gap_of, _single_gap()), ctx.decl.margin),
            gates.at_minimum([p for pair in pairs.values() for p in pair]))
    for t in ctx.tasks:
      c = change(replicates.accuracy_of(t), replicates.single_accuracy(t))
      if c:
        fields = ctx.claim_fields("continued", t)
        fields["confirmatory"] = fields["confirmatory"] and arm is head
        out.append(family.Draft.of(c, title=f"Continued training improves task {t} at equal loss", unit="pts",
                                   scale=PTS, task=t, detail=detail, gates=base + (gates.runs(c),), **fields))
    c = change(replicates.trace_of(TRACE), replicates.single_trace(TRACE))
    if c:
      out.append(family.Draft.of(c, claim="continued_trace", title="Continued training lowers Tr(H)",
                                 language=ctx.language, unit="Tr(H)", detail=detail,
                                 paper=claims_lib.EXPLORATORY_PAPER["continued_trace"], gates=base + (gates.runs(c),)))
  return out


# ------------------------------------------------------------------------------------------ size
def size(ctx: Context) -> list:
  sizes = _by_size([a for a in ctx.arms if a.num_params])
  if len(sizes) < 2:
    if ctx.confirmatory("size"):
      return [ctx.placeholder("size", "one model size measured")]
    return []
  small, big = reference_arm(list(sizes.values())[0]), reference_arm(list(sizes.values())[-1])
  detail = f"{big.name} {big.num_params:,} vs {small.name} {small.num_params:,} params"
  compare = lambda value, single: replicates.compare_arms(big, small, value, single, ctx.design)  # pylint: disable=unnecessary-lambda-assignment
  base = (gates.equal_loss(compare(replicates.gap_of, _single_gap()), ctx.decl.margin),
          gates.at_minimum(big.finals() + small.finals()))
  out = []
  for t in ctx.tasks:
    c = compare(replicates.accuracy_of(t), replicates.single_accuracy(t))
    if c:
      out.append(family.Draft.of(c, title=f"Larger is better at equal loss, task {t}", unit="pts", scale=PTS,
                                 task=t, detail=detail, gates=base + (gates.runs(c),), **ctx.claim_fields("size", t)))
  for label, key in (("own parameterization", TRACE), ("embedded in the largest", EMBEDDED)):
    c = compare(replicates.trace_of(key), replicates.single_trace(key))
    if c:
      out.append(family.Draft.of(c, claim="size_trace", title=f"Larger is flatter, Tr(H) {label}",
                                 language=ctx.language, unit="Tr(H)", detail=detail,
                                 paper=claims_lib.EXPLORATORY_PAPER["size_trace"], gates=base + (gates.runs(c),)))
  return out


# ------------------------------------------------------------------------------------------ algorithms
def algorithm(ctx: Context) -> list:
  out = []
  adversarial_seen = False
  for group in _by_size(ctx.arms).values():
    ref = reference_arm(group)
    names = {a.name: a for a in group}
    for arm in sorted(group, key=lambda a: a.name):
      if arm is ref:
        continue
      base_arm = names.get(arm.reference, ref)
      detail = f"{arm.name} − {base_arm.name}"
      compare = lambda value, single, arm=arm, b=base_arm: replicates.compare_arms(arm, b, value, single, ctx.design)
      gate = (gates.equal_loss(compare(replicates.gap_of, _single_gap()), ctx.decl.margin),
              gates.at_minimum(arm.finals() + base_arm.finals()))
      gap = compare(replicates.gap_of, _single_gap(0.95))
      if gap:
        out.append(family.Draft.of(gap, claim="gap", title="Equal pre-training loss (Δgap, % of L*)",
                                   language=ctx.language, unit="% of L*", scale=PCT, detail=detail,
                                   gates=(gates.runs(gap),)))
      trace = compare(replicates.trace_of(TRACE), replicates.single_trace(TRACE))
      if trace:
        out.append(family.Draft.of(trace, claim="algorithm_trace", title="ΔTr(H) at fixed size",
                                   language=ctx.language, unit="Tr(H)", detail=detail,
                                   gates=gate + (gates.runs(trace),)))
      adversarial_seen |= arm.is_adversarial
      for t in ctx.tasks:
        c = compare(replicates.accuracy_of(t), replicates.single_accuracy(t))
        if not c:
          continue
        fields = ctx.claim_fields("algorithm", t)
        if not arm.is_adversarial:
          fields.update(claim="algorithm_other", confirmatory=False, expected=0, paper="—", paper_effect=None)
        out.append(family.Draft.of(c, title=f"The algorithm matters at equal loss, task {t}", unit="pts",
                                   scale=PTS, task=t, detail=detail, gates=gate + (gates.runs(c),), **fields))
  if ctx.confirmatory("algorithm") and not adversarial_seen:
    out.append(ctx.placeholder("algorithm", "no adversarial arm beside a reference arm of its size"))
  return out


# ------------------------------------------------------------------------------------------ correlations
def _correlation(ctx, use, stat, *values, claim, title, task, unit="ρ", expected_claim=True, extra=()):
  """A correlation Draft over points `use` (values: functions of a point), resampling whole runs."""
  use = [p for p in use if all(np.isfinite(v(p)) for v in values)]
  units = sorted({replicates.cluster_of(p, ctx.design) for p in use})
  unit_name = "seed blocks" if ctx.design == replicates.PAIRED else "runs"
  runs_gate = gates.correlation_runs(len(units), len(use), unit_name)
  fields = ctx.claim_fields(claim, task) if expected_claim else {"claim": claim, "language": ctx.language}
  test = None
  if len(use) >= 3:
    arrays = [np.array([v(p) for p in use]) for v in values]
    test = cluster.cluster_bootstrap_test(stat, [replicates.cluster_of(p, ctx.design) for p in use], *arrays,
                                          num_boot=ctx.settings.num_boot, seed=ctx.settings.seed)
  within = f"within {100 * ctx.settings.saturated_gap:.1f}% of L* and at a minimum"
  converged = gates.Gate("converged", True, f"{len(use)} checkpoints {within}") if use else gates.Gate(
      "converged", False, f"not converged: no checkpoint {within}")  # nothing to correlate, and the row says why
  return family.Draft(title=title, unit=unit, task=task, test=test,
                      estimate=test.estimate if test is not None else np.nan, n=f"{len(units)} {unit_name}, "
                      f"{len(use)} checkpoints", runs=len(units), gates=(converged, runs_gate) + tuple(extra),
                      **fields)


def correlations(ctx: Context) -> list:
  out = []
  conv = [p for p in ctx.pts if gates.converged(p, ctx.settings.saturated_gap)]
  tr = replicates.trace_of(TRACE)
  loss = lambda p: p.eval.eval_loss  # pylint: disable=unnecessary-lambda-assignment
  logp = lambda p: float(np.log(max(p.num_params, 1)))  # pylint: disable=unnecessary-lambda-assignment
  sizes = len({p.num_params for p in conv})
  for t in ctx.tasks:
    acc = replicates.accuracy_of(t)
    out.append(_correlation(ctx, conv, cluster.weighted_spearman, tr, acc, claim="flatter", task=t,
                            title=f"Flatter is better, task {t}: ρ(Tr(H), acc) over converged checkpoints"))
    out.append(_correlation(ctx, conv, cluster.weighted_spearman, loss, acc, claim="loss", task=t,
                            title=f"Loss tracks accuracy, task {t}: ρ(loss, acc) over converged checkpoints",
                            expected_claim=False))
    one_size = () if sizes >= 2 else (gates.Gate("runs", False, "one model size: nothing to control for"),)
    out.append(_correlation(ctx, conv, cluster.weighted_partial, tr, acc, logp, claim="flatness_beyond_size",
                            task=t, unit="r", extra=one_size,
                            title=f"Flatness beyond size, task {t}: partial r(Tr(H), acc | log params)"))
    down = lambda p, t=t: p.curvature.downstream.get(t, records.MISSING).value
    measured = [p for p in conv if np.isfinite(down(p))]
    if measured or ctx.confirmatory("downstream_flatness", t):
      out.append(_correlation(ctx, measured, cluster.weighted_spearman, down, acc, claim="downstream_flatness",
                              task=t, title=f"Downstream-loss flatness, task {t}: ρ(Tr(H_probe), acc)"))
    if measured and len(measured) < len(conv):  # the pre-training trace on the same, smaller set of checkpoints
      out.append(_correlation(ctx, measured, cluster.weighted_spearman, tr, acc, claim="flatter_same", task=t,
                              title=f"Pre-training flatness on the same checkpoints, task {t}: ρ(Tr(H), acc)",
                              expected_claim=False))
  return [d for d in out if d.confirmatory or (d.test is not None and np.isfinite(d.estimate))]


# ------------------------------------------------------------------------------------------ drift
def drift_row(ctx: Context) -> list:
  rates = drift.drift_rates(ctx.runs, TRACE)
  if len({r["batch_size"] for r in rates}) < 2:
    return [ctx.placeholder("drift", "fewer than two batch sizes")] if ctx.confirmatory("drift") else []
  test, n = drift.slope_test(drift.batch_scaling(rates))
  ok = test is not None and test.valid
  runs_gate = gates.Gate("runs", ok, f"{n} runs with a positive rate" + ("" if ok else "; ≥ 3 needed"))
  fields = ctx.claim_fields("drift")
  return [family.Draft(title="Flatness drift falls with batch size (Theorem 4.3): log–log slope of −dTr(H)/dstep "
                             "vs B", unit="slope", test=test, estimate=test.estimate if test else np.nan,
                       n=f"{n} runs", runs=n, gates=(runs_gate,), detail="prediction −1", **fields)]


def drafts(pts, runs, decl, settings) -> tuple:
  """(every Draft, {language: seed design}) of the records, language by language in order of first appearance."""
  out, designs = [], {}
  for language in dict.fromkeys(r.language for r in runs):
    ctx = Context(language, [p for p in pts if p.language == language], [r for r in runs if r.language == language],
                  decl, settings)
    designs[language] = ctx.design
    mine = [d for build in (continued, size, algorithm, correlations, drift_row) for d in build(ctx)]
    have = {d.claim for d in mine if d.confirmatory}
    mine += [ctx.placeholder(c, f"the primary task {ctx.primary or '(none)'} was not measured")
             for c in ctx.decl.claims if c not in have]  # every declared row is in the family
    out += mine
  return out, designs
