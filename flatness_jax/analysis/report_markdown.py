"""The text of report.md and its figures, from the typed records of run directories (the report job writes them):
`build(runs, ...) -> (markdown, {file name: Figure})`. The paper's claims tested over pre-training seeds come first.

report.md opens with the Findings table (flatness_jax.analysis.findings): each claim of Liu et al. 2023 per
language, the paper's figure, ours with its 95% interval over pre-training seeds, n and the verdict. The seed is the
unit of replication: a verdict ('reproduced' when the interval excludes zero on the paper's side, 'opposite' on the
other, else 'not significant at this scale') needs ≥ 2 seeds per arm; with one seed the measurement is shown with
its own noise and marked "untested: 1 seed". A comparison of minima (continued training, size, algorithm) is marked
"untested: not at a minimum" when a compared checkpoint's Hessian is measurably indefinite
(flatness_jax.analysis.minima). Then, from the same run directories: figures per claim (one colour per
arm), the replication table (between-seed SD next to probe-seed SD and estimator SE), every run's final and every
measured checkpoint (held-out gap ± SE, Tr(H) ± SE, Fisher trace ± SE, λmax, probe accuracy mean ± std over probe
seeds, fine-tuning where measured), majority / Bayes / lookup-table references, the fixed-size and model-size
tables, every finding as a verdict line, iso-loss pairs (paired held-out losses) and the drift-vs-batch table.
"""
import numpy as np

from flatness_jax.analysis import drift, figures, findings, fixed_size, isoloss, minima, points as points_lib
from flatness_jax.analysis import replicates, sizes, stats
from flatness_jax.analysis.tables import pm
from flatness_jax.rundir import records

TRACE = findings.TRACE
REPLICATED = ("configs/continued.py, configs/model_size.py and configs/algorithms.py (3 seeds by default), or "
              "--config.seeds=3 on any experiment config")


def tasks_of(runs) -> list[str]:
  names = []
  for r in runs:
    for t in r.probes.tasks:
      if t not in names:
        names.append(t)
  return names


def point_table(pts, tasks) -> list[str]:
  finetuned = [t for t in tasks if any(np.isfinite(p.finetune_accuracy(t)[0]) for p in pts)]
  head = ["run", "step", "params", "gap % of L*", "Tr(H)", "Fisher Tr", "λmax"] + [f"acc {t} %" for t in tasks]
  head += [f"fine-tune {t} %" for t in finetuned]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for p in pts:
    lam = p.curvature.lambda_max.value
    cells = [p.run, str(p.step), f"{p.num_params:,}", pm(p.eval.gap_relative, p.eval.gap_relative_se, 100),
             pm(*p.trace(TRACE)), pm(*p.trace(records.FISHER)), "–" if not np.isfinite(lam) else f"{lam:.2f}"]
    cells += [pm(p.accuracy(t)[0], p.accuracy(t)[1], 100, 1) for t in tasks]
    cells += [pm(p.finetune_accuracy(t)[0], p.finetune_accuracy(t)[1], 100, 1) for t in finetuned]
    lines.append("| " + " | ".join(cells) + " |")
  return lines


def reference_table(runs, tasks) -> list[str]:
  lines = ["| reference | " + " | ".join(f"acc {t} %" for t in tasks) + " |", "|---|" + "---|" * len(tasks)]
  seen = set()
  for r in runs:
    lang = r.language or r.name
    if lang in seen or not r.probes.tasks:
      continue
    seen.add(lang)
    info, lookup = r.probes.tasks, r.probes.lookup
    for label, fn in (("majority class", lambda t: f"{100 * info[t].majority_accuracy:.1f}"),
                      ("Bayes optimal", lambda t: "–" if info[t].bayes_accuracy is None  # unknown (GLUE)
                       else f"{100 * info[t].bayes_accuracy:.1f}"),
                      ("lookup table (exact conditionals)",
                       lambda t: pm(lookup[t].mean, lookup[t].std, 100, 1) if t in lookup else "–")):
      lines.append(f"| {label} ({lang}) | " + " | ".join(fn(t) if t in info else "–" for t in tasks) + " |")
  return lines


def replication_table(arms, tasks) -> list[str]:
  """Per arm: between-seed SD of the final accuracy and Tr(H) next to the noise one run shows (probe-seed SD,
  estimator SE): how much a single run understates run-to-run variation."""
  head = ["arm", "seeds"] + [f"acc {t}: between-seed SD / probe-seed SD (pts)" for t in tasks]
  head += ["Tr(H): between-seed SD / estimator SE"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  fmt = lambda pair, scale=1.0, d=2: "–" if not np.isfinite(pair[1]) else (  # pylint: disable=g-long-lambda
      f"{'–' if not np.isfinite(pair[0]) else f'{scale * pair[0]:.{d}f}'} / {scale * pair[1]:.{d}f}")
  for arm in arms:
    cells = [arm.name, str(arm.num_seeds)]
    for t in tasks:
      cells.append(fmt(replicates.spread(arm, replicates.accuracy_of(t), lambda p, t=t: p.accuracy(t)[1]), 100, 1))
    cells.append(fmt(replicates.spread(arm, replicates.trace_of(TRACE), lambda p: p.trace(TRACE)[1])))
    lines.append("| " + " | ".join(cells) + " |")
  return lines


def _figures(runs, arms, pts, tasks) -> dict:
  """{file name: Figure} of the report, in the order the report shows them."""
  colors = figures.arm_colors([a.name for a in arms] + [r.arm for r in runs])
  out = {}
  for t in tasks:
    if any(np.isfinite(p.trace(TRACE)[0]) and np.isfinite(p.accuracy(t)[0]) for p in pts):
      out[f"acc_vs_trace_{t}.png"] = figures.accuracy_vs_trace(arms, t, TRACE, colors)
  out["continued.png"] = figures.continued_curves(arms, tasks, TRACE, colors)
  out["arms.png"] = figures.arm_bars(arms, tasks, colors)
  out["gap.png"] = figures.gap_curves(runs, colors)
  return {k: v for k, v in out.items() if v is not None}


_FIGURE_CAPTIONS = {"continued.png": "continued training", "arms.png": "final accuracy per arm", "gap.png": "gap"}


def _caption(name: str) -> str:
  if name in _FIGURE_CAPTIONS:
    return _FIGURE_CAPTIONS[name]
  return "accuracy vs Tr(H), task " + name.removeprefix("acc_vs_trace_").removesuffix(".png")


def build(runs, *, saturated_gap: float = 0.03, iso_tol: float = 1.0):
  """(report.md text, {file name: Figure}) of the runs (reader.RunRecord, in report order)."""
  if not runs:
    raise ValueError("no run directories given to the report")
  tasks = tasks_of(runs)
  pts = [p for r in runs for p in points_lib.points_of(r)]
  arms = replicates.arms_of(pts)
  kinds = {r.language: r.data_kind for r in runs}
  found = findings.findings(pts, tasks, kinds, saturated_gap)
  finals = sizes.final_points(pts)
  finals.sort(key=lambda p: [r.name for r in runs].index(p.run))
  seeds = sorted({a.num_seeds for a in arms})
  seed_text = ("/".join(str(s) for s in seeds) + " pre-training seed(s) per arm") if arms else "no measured runs"
  lines = ["# flatness_jax report", "",
           f"Arms: {', '.join(f'{a.name} ({a.num_seeds})' for a in arms)}; {seed_text}. Gap = held-out loss − "
           "exact optimal loss on the same pairs (paired SE). Tr(H): Hutchinson on the pre-training loss (SE over "
           "probes); Fisher: the paper's sampled-label estimator (SE over examples); accuracy: linear probe, mean ± "
           "std over probe seeds. Intervals in the Findings are over pre-training seeds (the unit of replication).",
           "", "## Findings", ""]
  lines += findings.table(found) if found else ["No comparison could be made (run the curvature and probes jobs)."]
  if any(f.verdict == stats.UNTESTED for f in found):
    lines += ["", "Rows marked *untested: 1 seed* rest on one pre-training run per arm: they are measurements with "
              "probe/estimator noise only, not verdicts. For the replicated answer run " + REPLICATED + "."]
  if any(f.verdict.reason.startswith(minima.NOT_AT_MINIMUM) for f in found):
    lines += ["", "Rows marked *untested: not at a minimum* compare a checkpoint whose Hessian has negative "
              "eigenvalues (the upper 95% bound of its Tr(H) is below zero or below its top Lanczos eigenvalue "
              "λmax, impossible for a positive semi-definite Hessian): train it longer or with a lower peak "
              "learning rate before reading its accuracy or flatness as the paper's converged quantity."]
  figs = _figures(runs, arms, pts, tasks)
  lines += ["", "## Figures", ""] + [f"![{_caption(n)}]({n})" for n in figs]
  lines += ["", "## Replication: between-seed vs within-run noise", ""] + replication_table(arms, tasks)
  lines += ["", "## Final checkpoints", ""] + point_table(finals, tasks) + ["", "## References", ""]
  lines += reference_table(runs, tasks) + ["", "## Every measured checkpoint", ""] + point_table(pts, tasks)
  fixed = fixed_size.fixed_size_lines(arms, tasks, TRACE)
  if fixed:
    lines += ["", "## Fixed size: each arm against the first arm of its size", ""] + fixed
  size = sizes.size_lines(pts, tasks, TRACE)
  if size:
    lines += ["", "## Model size at the final checkpoints", ""] + size
  lines += ["", "## Verdicts", ""] + ([f.line() for f in found] or ["- No comparison could be made."])
  lines += ["", f"## Iso-loss pairs (|Δloss| ≤ {iso_tol} SE)", ""] + isoloss.isoloss_lines(pts, tasks, iso_tol, TRACE)
  drift_table = drift.drift_lines(runs, TRACE)
  if drift_table:
    lines += ["", "## Flatness drift vs batch size (Theorem 4.3: rate ∝ 1/B)", ""] + drift_table
  return "\n".join(lines) + "\n", figs
