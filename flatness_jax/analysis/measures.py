"""Which flatness measure predicts accuracy beyond loss and size: per measure, its partial correlation with the
primary task's probe accuracy given the loss gap and log(parameters), over converged checkpoints, resampling whole
pre-training runs.

For a measure m, accuracy a and covariates z = (gap as a fraction of L*, log #params) over the converged
checkpoints of one language (within the saturation gap and at a minimum, gates.converged),

    r(m, a | z) = corr(m − m̂, a − â),   m̂, â the least-squares fits on [1, z],

the reviewers' first question ("is flatness just a property of the loss and the parameterisation, and so of
size?") asked of every measure the flatness-versus-generalisation literature compares, not of Tr(H) alone: Tr(H)
in the model's own parameterization and embedded in the largest architecture (Liu et al. 2023, §5), the top
eigenvalue λmax, the paper's Fisher trace, the Fisher–Rao norm (Liang et al. 2019), and average- and worst-case
ρ-sharpness, plain and adaptive (Keskar et al. 2017; Foret et al. 2021; Kwon et al. 2021; Andriushchenko et al.
2023), as flatness_jax.eval.curvature records them. A measure that only restates the loss or the size has r ≈ 0.

The interval resamples whole runs (flatness_jax.analysis.cluster: t on G − 1 degrees of freedom on Fisher's z). A
draw weights point i by how often its run was drawn; the partial correlation of that repeated sample is the
weighted Pearson r of the weighted least-squares residuals (`weighted_partial_given`). A covariate constant over
the checkpoints (one model size) is dropped: the size is then held fixed by design. Gates as the report's other
correlations (converged, runs), and a sharpness measure is pooled only over checkpoints measured at one radius ρ.

Exploratory (flatness_jax.analysis.claims declares what is confirmatory): numbers and 95% intervals, no verdicts.
The section lists the measures by |r|, a description of these records, not a test of one measure against another.
"""
import numpy as np

from flatness_jax.analysis import cluster, findings, gates, rows as rows_lib
from flatness_jax.rundir import records

SECTION = "Which flatness measure predicts accuracy beyond loss and size"
CLAIM_PREFIX = "measure:"
# (record name, label): Curvature.estimate names, plus λmax; the sharpness names of flatness_jax.eval.curvature.
LAMBDA_MAX = "lambda_max"
MEASURES = ((records.HUTCHINSON, "Tr(H), own parameterization"), (records.EMBEDDED, "Tr(H), embedded in the largest"),
            (LAMBDA_MAX, "λmax (Lanczos)"), (records.FISHER, "Fisher trace (the paper's estimator)"),
            ("fisher_rao", "Fisher–Rao norm ⟨θ, Fθ⟩"), ("average", "average-case ρ-sharpness"),
            ("adaptive_average", "adaptive average-case ρ-sharpness"), ("worst", "worst-case ρ-sharpness"),
            ("adaptive_worst", "adaptive worst-case ρ-sharpness"))


def weighted_partial_given(x, y, covariates, w):
  """Partial Pearson r of x and y ([n]) given covariates ([n] or [n, k]) on the sample where point i appears w_i
  times (w: [n] or [B, n]): the weighted Pearson r of the weighted least-squares residuals on [1, covariates].
  Covariates constant over the n points are dropped; nan where a side has no residual spread, or with too few
  distinct points for the residuals to have more than one dimension (n ≤ k + 2, where r is ±1 by construction)."""
  x, y, w = (np.asarray(a, np.float64) for a in (x, y, w))
  z = np.asarray(covariates, np.float64).reshape(len(x), -1)
  z = z[:, z.std(0) > 1e-12 * (np.abs(z).max(0) + 1e-300)]
  z = (z - z.mean(0)) / z.std(0)                                            # conditioned normal equations
  design = np.concatenate([np.ones((len(x), 1)), z], axis=1)                 # [n, k + 1]
  gram = np.einsum("...n,ni,nj->...ij", w, design, design)
  inverse = np.linalg.pinv(gram, rcond=1e-10)

  def residual(v):
    coef = np.einsum("...ij,...n,nj,n->...i", inverse, w, design, v)
    return v - np.einsum("ni,...i->...n", design, coef)
  r = cluster.weighted_pearson(residual(x), residual(y), w)
  # With n distinct points and k covariates the residuals have n − k − 1 dimensions: at n ≤ k + 2 |r| = 1 always.
  return np.where((w > 0).sum(-1) - design.shape[1] - 1 >= 1, r, np.nan)


def _partial(m, acc, gap, log_params, w):
  return weighted_partial_given(m, acc, np.stack([gap, log_params], axis=-1), w)


def value_of(name: str):
  """The measure `name` of a point (nan when not measured)."""
  if name == LAMBDA_MAX:
    return lambda p: p.curvature.lambda_max.value
  return lambda p: p.curvature.estimate(name).value


def _same_radius(name: str, use) -> tuple:
  """() when every point of `use` measured `name` at one radius ρ (or it has none), else a failed gate."""
  radii = sorted({p.curvature.measure_rho[name] for p in use if name in p.curvature.measure_rho})
  if len(radii) <= 1:
    return ()
  return (gates.Gate("same ρ", False, f"measured at ρ = {', '.join(f'{r:g}' for r in radii)}: not comparable"),)


def _drafts_of(ctx) -> list:
  if not ctx.primary:
    return []
  conv = [p for p in ctx.pts if gates.converged(p, ctx.settings.saturated_gap)]
  acc = lambda p: p.accuracy(ctx.primary)[0]  # pylint: disable=unnecessary-lambda-assignment
  gap = lambda p: p.eval.gap_relative  # pylint: disable=unnecessary-lambda-assignment
  logp = lambda p: float(np.log(max(p.num_params, 1)))  # pylint: disable=unnecessary-lambda-assignment
  out = []
  for name, label in MEASURES:
    m = value_of(name)
    use = [p for p in conv if np.isfinite(m(p))]
    if not use:
      continue
    sizes = len({p.num_params for p in use})
    draft = findings._correlation(  # pylint: disable=protected-access
        ctx, use, _partial, m, acc, gap, logp, claim=CLAIM_PREFIX + name, task=ctx.primary, unit="r",
        expected_claim=False, extra=_same_radius(name, use),
        title=f"{label}: partial r(measure, acc {ctx.primary} | gap, log params)")
    draft.detail = "one model size: size held fixed by design" if sizes == 1 else f"{sizes} model sizes"
    out.append(draft)
  return [d for d in out if d.test is not None and np.isfinite(d.estimate)]


def drafts(pts, runs, decl, settings) -> list:
  """The exploratory Drafts (family.Draft) of every recorded measure, language by language, on the primary task."""
  out = []
  for language in dict.fromkeys(r.language for r in runs):
    out += _drafts_of(findings.Context(language, [p for p in pts if p.language == language],
                                       [r for r in runs if r.language == language], decl, settings))
  return out


def section_lines(found: rows_lib.Findings) -> list[str]:
  """The report section: per language, the measures' partial correlations by |r| with 95% intervals, and the
  measures these records lack (but the embedded trace, which only size experiments measure)."""
  rows = [r for r in found.rows if r.claim.startswith(CLAIM_PREFIX)]
  lines = ["", f"## {SECTION}", "",
           "Exploratory: numbers and 95% intervals, no verdicts. Per measure, the partial correlation r of the "
           "measure with the primary task's probe accuracy given the loss gap (fraction of L*) and log(parameters), "
           "over converged checkpoints (within the saturation gap and at a minimum); intervals resample whole "
           "pre-training runs. r near 0: the measure says nothing about accuracy that loss and size do not; "
           "negative: flatter by that measure goes with higher accuracy at equal loss and size. Listed by |r|."]
  if not rows:
    return lines + ["", "No measure could be compared (no converged checkpoint with a measure and a primary-task "
                        "accuracy)."]
  names = dict(MEASURES)
  for language in dict.fromkeys(r.language for r in rows):
    mine = sorted((r for r in rows if r.language == language), key=lambda r: (-abs(r.estimate), r.claim))
    lines += ["", f"### {language or '(no language)'}, task {mine[0].task}", "",
              "| rank | measure | partial r (95% CI) | n | sizes | note |", "|---|---|---|---|---|---|"]
    for i, r in enumerate(mine, 1):
      ci = (f"{r.estimate:+.2f} [{r.low:+.2f}, {r.high:+.2f}]" if np.isfinite(r.low) and np.isfinite(r.high)
            else f"{r.estimate:+.2f} [no interval]")
      lines.append(f"| {i} | {names.get(r.claim[len(CLAIM_PREFIX):], r.claim)} | {ci} | {r.n} | {r.detail} | "
                   f"{r.note or '–'} |")
    # The embedded trace exists only where an experiment embeds (configs/model_size.py): not missed elsewhere.
    absent = [label for name, label in MEASURES
              if CLAIM_PREFIX + name not in {r.claim for r in mine} and name != records.EMBEDDED]
    if absent:
      lines += ["", "Not compared (not recorded at enough converged checkpoints): " + ", ".join(absent)
                + "."]
  return lines
