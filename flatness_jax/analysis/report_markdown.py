"""The text of report.md, its figures and the typed record of its rows, from the run directories' records (the
report job writes them): `build(runs, settings) -> Report(text, figures, findings)`.

report.md opens with the runs whose records are not final or not whole (another process writes them now, a record
file is missing, a record could not be read: RunRecord.in_progress / missing / problems; a size not known is shown
as '–', never 0), then the Findings: the confirmatory family the experiment declared (flatness_jax.analysis.claims:
one row per claim and language on the primary task), tested with Holm's correction and stated with its gates,
power and seed design (flatness_jax.analysis.family, findings_tables), then every other comparison as an
exploratory row (numbers and intervals, no verdict words). Then, from the same records: figures per claim (one
colour per arm), the replication table (between-seed SD next to probe-seed SD and estimator SE), every run's final
and every measured checkpoint (held-out gap ± SE, Tr(H) ± SE, Fisher trace ± SE, λmax, probe accuracy mean ± std
over probe seeds, fine-tuning where measured), majority / Bayes / lookup-table references, the fixed-size and
model-size tables, every row as a line, iso-loss pairs (paired held-out losses, within a language) and the
drift-vs-batch table. Nothing depends on the order of the records: arms are sorted, bootstrap clusters are sorted
and drawn from one seed per report.
"""
import dataclasses

import numpy as np

from flatness_jax.analysis import claims, drift, family, figures, findings, findings_tables, fixed_size, isoloss
from flatness_jax.analysis import measures
from flatness_jax.analysis import points as points_lib, replicates, rows as rows_lib, sizes
from flatness_jax.analysis.tables import pm
from flatness_jax.rundir import records

TRACE = findings.TRACE
Settings = claims.Settings
REPLICATED = ("configs/continued.py, configs/model_size.py and configs/algorithms.py (3 seeds by default), or "
              "--config.seeds=3 on any experiment config")


@dataclasses.dataclass(frozen=True)
class Report:
  """report.md's text, its figures {file name: Figure} and the typed rows (findings.json)."""
  text: str
  figures: dict
  findings: rows_lib.Findings

  @property
  def rows(self) -> list:
    return list(self.findings.rows)


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
    size = f"{p.num_params:,}" if p.num_params else "–"  # 0: neither summary.json nor a checkpoint says
    cells = [p.run, str(p.step), size, pm(p.eval.gap_relative, p.eval.gap_relative_se, 100),
             pm(*p.trace(TRACE)), pm(*p.trace(records.FISHER)), "–" if not np.isfinite(lam) else f"{lam:.2f}"]
    cells += [pm(p.accuracy(t)[0], p.accuracy(t)[1], 100, 1) for t in tasks]
    cells += [pm(p.finetune_accuracy(t)[0], p.finetune_accuracy(t)[1], 100, 1) for t in finetuned]
    lines.append("| " + " | ".join(cells) + " |")
  return lines


def run_status_lines(runs) -> list[str]:
  """One line per run whose records are not final (another process writes it now) or not whole (record files it
  lacks, records that could not be read), so that a report never shows a partial run as a finished one."""
  out = []
  for r in runs:
    why = [f"in progress: {r.writer} is writing it, so its records may still change"] if r.in_progress else []
    why += ["no " + ", ".join(r.missing)] if r.missing else []
    why += [f"could not read: {p}" for p in r.problems]
    if why:
      out.append(f"- {r.name}: " + "; ".join(why))
  return out


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


def _notes(rows) -> list[str]:
  out = []
  reasons = " ".join(f"{r.reason} {r.note}" for r in rows)
  if "too few runs" in reasons:
    out += ["", "Rows marked *too few runs* rest on fewer pre-training runs than an interval that can exclude zero "
            "needs (one seed per arm gives the measurement's own probe/estimator noise only). For the replicated "
            "answer run " + REPLICATED + "."]
  if "not at a minimum" in reasons:
    out += ["", "Rows marked *not at a minimum* compare a checkpoint whose Hessian is not shown positive "
            "semi-definite (its Tr(H) negative, not resolved from zero, or below its top Lanczos eigenvalue λmax, "
            "impossible for a PSD Hessian): train it longer or with a lower peak learning rate before reading its "
            "accuracy or flatness as the paper's converged quantity."]
  return out


def build(runs, settings: Settings = None, *, figures: bool = True) -> Report:
  """The report of the runs (reader.RunRecord; their order only orders the tables); figures=False skips the
  figures (simulations)."""
  if not runs:
    raise ValueError("no run directories given to the report")
  settings = settings or Settings()
  settings.check()
  decl = claims.declare(settings, runs)
  tasks = tasks_of(runs)
  pts = [p for r in runs for p in points_lib.points_of(r)]
  arms = replicates.arms_of(pts)
  drafts, designs = findings.drafts(pts, runs, decl, settings)
  drafts += measures.drafts(pts, runs, decl, settings)
  rows = family.finalize(drafts, settings.level)
  found = rows_lib.Findings(decl.claims, decl.source, family.CORRECTION, settings.level, decl.margin,
                            "/".join(sorted(set(designs.values()))), sum(r.confirmatory for r in rows),
                            decl.primary, tuple(rows))
  finals = sizes.final_points(pts)
  finals.sort(key=lambda p: [r.name for r in runs].index(p.run))
  seeds = sorted({a.num_seeds for a in arms})
  seed_text = ("/".join(str(s) for s in seeds) + " pre-training seed(s) per arm") if arms else "no measured runs"
  lines = ["# flatness_jax report", "",
           f"Arms: {', '.join(f'{a.name} ({a.num_seeds})' for a in arms)}; {seed_text}. Gap = held-out loss − "
           "exact optimal loss on the same pairs (paired SE). Tr(H): Hutchinson on the pre-training loss (SE over "
           "probes); Fisher: the paper's sampled-label estimator (SE over examples); accuracy: linear probe, mean ± "
           "std over probe seeds. Intervals are over pre-training seeds (the unit of replication)."]
  status = run_status_lines(runs)
  if status:
    lines += ["", "## Runs not final or incomplete", ""] + status
  lines += ["", "## Findings", ""] + findings_tables.family_lines(found, designs)
  if found.confirmatory:
    lines += ["", "### Confirmatory", ""] + findings_tables.confirmatory_table(found)
  if len(found.confirmatory) < len(rows):
    lines += ["", "### Exploratory (numbers and 95% intervals, no verdicts)", ""]
    lines += findings_tables.exploratory_table(found)
  if not rows:
    lines += ["", "No comparison could be made (run the curvature and probes jobs)."]
  lines += _notes(rows)
  figs = _figures(runs, arms, pts, tasks) if figures else {}
  if figs:
    lines += ["", "## Figures", ""] + [f"![{_caption(n)}]({n})" for n in figs]
  lines += ["", "## Replication: between-seed vs within-run noise", ""] + replication_table(arms, tasks)
  lines += ["", "## Final checkpoints", ""] + point_table(finals, tasks) + ["", "## References", ""]
  lines += reference_table(runs, tasks) + ["", "## Every measured checkpoint", ""] + point_table(pts, tasks)
  fixed = fixed_size.fixed_size_lines(arms, tasks, TRACE)
  if fixed:
    lines += ["", "## Fixed size: each arm against the reference arm of its size", ""] + fixed
  size = sizes.size_lines(pts, tasks, TRACE)
  if size:
    lines += ["", "## Model size at the final checkpoints", ""] + size
  lines += measures.section_lines(found)
  lines += ["", "## Every row", ""] + ([findings_tables.line(r) for r in rows] or ["- No comparison could be made."])
  lines += ["", f"## Iso-loss pairs (|Δloss| ≤ {settings.iso_tol} SE)", ""]
  lines += isoloss.isoloss_lines(pts, tasks, settings.iso_tol, TRACE)
  drift_table = drift.drift_lines(runs, TRACE)
  if drift_table:
    lines += ["", "## Flatness drift vs batch size (Theorem 4.3: rate ∝ 1/B)", ""] + drift_table
  return Report("\n".join(lines) + "\n", figs, found)
