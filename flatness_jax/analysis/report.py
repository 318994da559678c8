"""`report.md` (+ PNG figures) from run directories: the paper's comparisons with confidence intervals and verdicts.

Tables (in the spirit of Liu et al. 2023, Fig. 1–3, 5 and Tables 1–2): per run at its last measured checkpoint and
per checkpoint: held-out gap ± SE, Tr(H) ± SE (Hutchinson), Fisher trace ± SE, probe accuracy mean ± std over probe
seeds (and whole-model fine-tuning accuracy where measured), next to the majority, Bayes-optimal and lookup-table
accuracies. Verdicts are computed, never asserted:
- *continued training*: among a run's checkpoints within `saturated_gap` of the optimum, last minus first accuracy
  (expected > 0) and Tr(H) (expected < 0);
- *model size*: the largest minus the smallest model at their last checkpoints (expected accuracy > 0), and their
  Tr(H) in their own parameterizations and embedded in the largest architecture (analysis/sizes.py; expected < 0);
- *flatness tracks accuracy*: Spearman ρ(Tr(H), accuracy) over all points with a bootstrap 95% CI (expected < 0),
  next to ρ(loss, accuracy), and the partial correlation with log(parameters) held fixed;
- *pre-training vs downstream flatness*: ρ of each with accuracy, where downstream traces were measured;
- *fixed size*: each run minus the first run of the same parameter count (analysis/algorithms.py);
- *iso-loss pairs*: see flatness_jax.analysis.isoloss.
A verdict is 'reproduced' only when the 95% interval excludes zero on the paper's side, 'opposite' when it excludes
zero on the other side, else 'not significant at this scale'. Accuracy SEs are over probe seeds only (one
pre-training run per configuration), which the report states.
"""
import os

import numpy as np

from flatness_jax.analysis import algorithms, drift, figures, isoloss, points as points_lib, sizes, stats
from flatness_jax.analysis.tables import ci, pm
from flatness_jax.rundir import fields

TRACE = "hessian_trace_hutchinson"
MIN_POINTS_FOR_CORRELATION = 8  # fewer points give degenerate bootstrap intervals


def tasks_of(runs) -> list[str]:
  names = []
  for r in runs:
    for t in r["probes"].get("tasks", {}):
      if t not in names:
        names.append(t)
  return names


def point_table(pts, tasks) -> list[str]:
  finetuned = [t for t in tasks if any(np.isfinite(p.finetune_accuracy(t)[0]) for p in pts)]
  head = ["run", "step", "params", "gap % of L*", "Tr(H)", "Fisher Tr", "λmax"] + [f"acc {t} %" for t in tasks]
  head += [f"fine-tune {t} %" for t in finetuned]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for p in pts:
    lam = (p.curvature.get("lambda_max") or {}).get("value", np.nan)
    cells = [p.run, str(p.step), f"{p.num_params:,}", pm(p.eval["gap_relative"], p.eval["gap_relative_se"], 100),
             pm(*p.trace(TRACE)), pm(*p.trace("fisher_trace")), "–" if not np.isfinite(lam) else f"{lam:.2f}"]
    cells += [pm(p.accuracy(t)[0], p.accuracy(t)[1], 100, 1) for t in tasks]
    cells += [pm(p.finetune_accuracy(t)[0], p.finetune_accuracy(t)[1], 100, 1) for t in finetuned]
    lines.append("| " + " | ".join(cells) + " |")
  return lines


def reference_table(runs, tasks) -> list[str]:
  lines = ["| reference | " + " | ".join(f"acc {t} %" for t in tasks) + " |", "|---|" + "---|" * len(tasks)]
  seen = set()
  for r in runs:
    lang = r["summary"].get("language", r["name"])
    if lang in seen or not r["probes"].get("tasks"):
      continue
    seen.add(lang)
    info, lookup = r["probes"]["tasks"], r["probes"].get("lookup", {})
    for label, fn in (("majority class", lambda t: f"{100 * info[t]['majority_accuracy']:.1f}"),
                      ("Bayes optimal", lambda t: "–" if info[t]["bayes_accuracy"] is None  # unknown (GLUE)
                       else f"{100 * info[t]['bayes_accuracy']:.1f}"),
                      ("lookup table (exact conditionals)",
                       lambda t: pm(lookup[t]["accuracy_mean"], lookup[t]["accuracy_std"], 100, 1)
                       if t in lookup else "–")):
      lines.append(f"| {label} ({lang}) | " + " | ".join(fn(t) if t in info else "–" for t in tasks) + " |")
  return lines


def verdict_lines(runs, pts, tasks, saturated_gap: float) -> list[str]:
  out = []
  # Continued training after convergence.
  for r in runs:
    sat = [p for p in pts if p.run == r["name"] and p.eval["gap_relative"] <= saturated_gap]
    if len(sat) < 2:
      continue
    first, last = sat[0], sat[-1]
    for t in tasks:
      d = points_lib.accuracy_difference(last, first, t)
      if d:
        out.append(f"- Continued training ({r['name']}, step {first.step} → {last.step}, both within "
                   f"{100 * saturated_gap:.1f}% of L*): task {t} accuracy {ci(d, 100, 1)} pts → "
                   f"**{stats.verdict(d[1], d[2], +1)}** (paper: improves).")
    d = points_lib.trace_difference(last, first, TRACE)
    if d:
      out.append(f"- Continued training ({r['name']}): Tr(H) {ci(d)} → **{stats.verdict(d[1], d[2], -1)}** "
                 "(paper: decreases).")
  # Model size at (near) equal loss.
  finals = sizes.final_points(pts)
  if len({p.num_params for p in finals}) >= 2:
    big, small = finals[-1], finals[0]
    gaps = f"gaps {100 * big.eval['gap_relative']:.2f}% vs {100 * small.eval['gap_relative']:.2f}% of L*"
    for t in tasks:
      d = points_lib.accuracy_difference(big, small, t)
      if d:
        out.append(f"- Model size ({big.run} {big.num_params:,} vs {small.run} {small.num_params:,} params; {gaps}):"
                   f" task {t} accuracy {ci(d, 100, 1)} pts → **{stats.verdict(d[1], d[2], +1)}** "
                   "(paper: larger is better at equal loss).")
  # Flatness vs accuracy, vs loss, and controlling for size.
  for t in tasks:
    use = [p for p in pts if np.isfinite(p.trace(TRACE)[0]) and np.isfinite(p.accuracy(t)[0])]
    if len(use) < MIN_POINTS_FOR_CORRELATION:
      out.append(f"- Flatness vs accuracy, task {t}: only {len(use)} measured checkpoints; a rank-correlation CI "
                 f"needs at least {MIN_POINTS_FOR_CORRELATION} (measure more steps: --config.curvature.steps=all).")
      continue
    tr = np.array([p.trace(TRACE)[0] for p in use])
    acc = np.array([p.accuracy(t)[0] for p in use])
    loss = np.array([p.eval["eval_loss"] for p in use])
    rho = stats.bootstrap_ci(stats.spearman, tr, acc)
    rho_l = stats.bootstrap_ci(stats.spearman, loss, acc)
    out.append(f"- Flatness vs accuracy, task {t} ({len(use)} checkpoints): Spearman ρ(Tr(H), acc) = "
               f"{ci(rho)} → **{stats.verdict(rho[1], rho[2], -1)}** (paper: flatter is better); "
               f"ρ(loss, acc) = {ci(rho_l)}.")
    logp = np.log([max(p.num_params, 1) for p in use])
    if len(set(logp)) >= 2:
      pc = stats.bootstrap_ci(lambda a, b, c: stats.partial_correlation(a, b, c), tr, acc, logp)
      out.append(f"  - with log(parameters) held fixed: partial r(Tr(H), acc) = {ci(pc)} → "
                 f"**{stats.verdict(pc[1], pc[2], -1)}** (is flatness just size?).")
    down = [p for p in use if t in (p.curvature.get("downstream_trace") or {})]
    if len(down) >= MIN_POINTS_FOR_CORRELATION:
      dtr = np.array([p.curvature["downstream_trace"][t]["value"] for p in down])
      dacc = np.array([p.accuracy(t)[0] for p in down])
      rd = stats.bootstrap_ci(stats.spearman, dtr, dacc)
      rp = stats.bootstrap_ci(stats.spearman, np.array([p.trace(TRACE)[0] for p in down]), dacc)
      out.append(f"  - downstream-loss flatness: ρ(Tr(H_probe), acc) = {ci(rd)}; pre-training ρ on the same "
                 f"checkpoints = {ci(rp)}.")
  return out or ["- Not enough measured checkpoints for any comparison (run the curvature and probes jobs)."]


def build_report(run_dirs, out_dir: str, *, saturated_gap: float = 0.03, iso_tol: float = 1.0) -> str:
  """Writes out_dir/report.md and figures from `run_dirs`; returns the report's path."""
  runs = [points_lib.load_run(d) for d in run_dirs]
  if not runs:
    raise ValueError("no run directories given to the report")
  os.makedirs(out_dir, exist_ok=True)
  tasks = tasks_of(runs)
  pts = [p for r in runs for p in points_lib.points_of(r)]
  finals = []
  for r in runs:
    mine = [p for p in pts if p.run == r["name"]]
    if mine:
      finals.append(mine[-1])
  lines = ["# flatness_jax report", "",
           f"Runs: {', '.join(r['name'] for r in runs)}. Gap = held-out loss − exact optimal loss on the same pairs "
           "(paired SE). Tr(H): Hutchinson on the pre-training loss (SE over probes); Fisher: the paper's sampled-"
           "label estimator (SE over examples); accuracy: linear probe, mean ± std over probe seeds (one "
           "pre-training run per configuration, so CIs reflect probe and estimator noise only).", "",
           "## Final checkpoints", ""] + point_table(finals, tasks) + ["", "## References", ""]
  lines += reference_table(runs, tasks) + ["", "## Every measured checkpoint", ""] + point_table(pts, tasks)
  fixed = algorithms.fixed_size_lines(pts, tasks, TRACE)
  if fixed:
    lines += ["", "## Fixed size: each run against the first run of its size", ""] + fixed
  size = sizes.size_lines(pts, tasks, TRACE)
  if size:
    lines += ["", "## Model size at the final checkpoints", ""] + size
  lines += ["", "## Verdicts", ""] + verdict_lines(runs, pts, tasks, saturated_gap)
  lines += ["", f"## Iso-loss pairs (|Δloss| ≤ {iso_tol} SE)", ""] + isoloss.isoloss_lines(pts, tasks, iso_tol, TRACE)
  drift_table = drift.drift_lines(runs, TRACE)
  if drift_table:
    lines += ["", "## Flatness drift vs batch size (Theorem 4.3: rate ∝ 1/B)", ""] + drift_table
  lines += ["", "## Figures", "", f"![gap]({figures.gap_curves(runs, os.path.join(out_dir, 'gap.png'))})"]
  for t in tasks:
    if any(np.isfinite(p.trace(TRACE)[0]) and np.isfinite(p.accuracy(t)[0]) for p in pts):
      name = figures.accuracy_vs_trace(pts, t, os.path.join(out_dir, f"acc_vs_trace_{t}.png"), TRACE)
      lines.append(f"![task {t}]({name})")
  path = os.path.join(out_dir, "report.md")
  with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")
  return path


def run_report(config, workdir: str) -> None:
  """The 'report' job: every run directory below config.report.runs (default: workdir) → workdir/report.md."""
  roots = fields.split_list(config.report.runs) or [workdir]
  dirs = sorted({d for root in roots for d in points_lib.find_run_dirs(root)})
  path = build_report(dirs, workdir, saturated_gap=config.report.saturated_gap, iso_tol=config.report.iso_tol)
  print(open(path).read())
  print(f"report: {os.path.abspath(path)}")
