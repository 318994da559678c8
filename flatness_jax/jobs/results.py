"""results/: the committed answer, written from run directories once and rebuilt from its own records ever after.

Layout (one directory per tier, so tiers coexist):
  results/README.md                          the answer (flatness_jax.analysis.results_readme), every tier
  results/<tier>/plan.json                   the tier's cells with their commands and estimated costs
  results/<tier>/stages.md                   the per-stage account of every committed cell
  results/<tier>/steps.md                    training steps before and after each run is within the saturation
                                             gap (flatness_jax.analysis.steps_account)
  results/<tier>/figures/<lang>_*.png        the paper's figures per language (flatness_jax.analysis.paper_figures)
  results/<tier>/<experiment>/<language>/    cell.json (command, seeds, commit, report settings, run order, stage
                                             account, baseline: the cell's first measurement once re-measured),
                                             runs/*.json (compact records, flatness_jax.rundir.compact),
                                             report.md, its figures and findings.json
`record_cell` writes a cell's cell.json and compact records from its run directories; `rebuild(root)` writes every
other file from those records alone (the report job's code on the compact records: the same report), so the
rebuild of a committed results/ is byte-identical (`configs/report.py:results`; tests/jobs/test_results.py).
"""
import os
import subprocess

from flatness_jax.analysis import figures as figures_lib, paper_figures, report_markdown, results_readme, rows
from flatness_jax.analysis import stage_account, steps_account
from flatness_jax.rundir import compact, jsonio, reader

CELL, PLAN, RUNS, README, STAGES_MD, FIGURES = "cell.json", "plan.json", "runs", "README.md", "stages.md", "figures"
STEPS_MD = "steps.md"
REPORT = "report.md"
TIMINGS = "timings.json"
FIGURE_DPI = 100
FIGURE_NAMES = {"continued": "fig1_continued", "size": "fig2_size", "trace": "fig5_accuracy_vs_trace",
                "algorithms": "algorithms_equal_loss"}


def commit(ignore: str = "") -> str:
  """The checkout's commit (short), '+dirty' when tracked files differ from it — files under `ignore` (the results
  directory the tier itself rewrites) aside; 'unknown' outside git."""
  status = ["git", "status", "--porcelain", "--untracked-files=no", "--", "."]
  if ignore and not os.path.relpath(ignore).startswith(os.pardir):  # a results directory outside the checkout
    status.append(f":(exclude){os.path.relpath(ignore)}")
  try:
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True)
    dirty = subprocess.run(status, capture_output=True, text=True, check=True)
  except (OSError, subprocess.CalledProcessError):
    return "unknown"
  return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def cell_dir(root: str, tier: str, experiment: str, language: str) -> str:
  return os.path.join(root, tier, experiment, language)


def baseline(previous, account: dict, where: str = CELL):
  """The cell's first measurement {commit, account} that a new record with per-stage `account` keeps: the previous
  cell.json's own baseline, else the previous record itself when it measured something else (a re-measurement, a
  changed recipe); None for a first record or the same measurement recorded again (a cell kept as finished)."""
  if not previous:
    return None
  if previous.get("baseline"):
    return cell_baseline(previous, where)
  if "account" in previous and previous["account"] != account:
    return {"commit": previous.get("commit", "unknown"), "account": previous["account"]}
  return None


def cell_baseline(doc: dict, where: str) -> dict:
  """cell.json's baseline (the cell's first measurement: {commit, account: {stage: seconds}}), {} when it has none;
  ValueError naming `where` when it has another shape (a hand edit), before a plan or a table adds it up."""
  first = doc.get("baseline")
  if not first:
    return {}
  account = first.get("account") if isinstance(first, dict) else None
  if (not isinstance(account, dict) or not set(account) <= set(stage_account.STAGES)
      or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in account.values())):
    raise ValueError(f"{where}: baseline must be {{commit, account: {{stage: seconds}}}} with stages among "
                     f"{list(stage_account.STAGES)}, got {first!r}")
  return first


def record_cell(run_dirs: dict, cell: dict, out_dir: str) -> None:
  """Writes out_dir/cell.json and out_dir/runs/*.json: `run_dirs` {run name: directory} in report order, `cell`
  {experiment, language, tier, command, seeds, name, report (settings), timings (timings.json)}. A cell recorded
  before keeps its first measurement as `baseline` (the plan's 'before')."""
  path = os.path.join(out_dir, CELL)
  previous = compact.read_json(path) if os.path.exists(path) else None
  for name, d in run_dirs.items():
    compact.write(reader.read_run(d), os.path.join(out_dir, RUNS, compact.file_name(name)))
  doc = {**cell, "runs": list(run_dirs), "account": stage_account.account(cell.get("timings", {}))}
  first = baseline(previous, doc["account"], path)
  if first:
    doc["baseline"] = first
  compact.write_json(path, doc)


def _cells(tier_dir: str) -> list:
  """(experiment, language, cell document) of every recorded cell of a tier, in plan order when a plan exists."""
  found = []
  for exp in sorted(os.listdir(tier_dir)):
    if not os.path.isdir(os.path.join(tier_dir, exp)) or exp == FIGURES:
      continue
    for lang in sorted(os.listdir(os.path.join(tier_dir, exp))):
      path = os.path.join(tier_dir, exp, lang, CELL)
      if os.path.exists(path):
        found.append((exp, lang, compact.read_json(path)))
  plan = compact.read_json(os.path.join(tier_dir, PLAN)) if os.path.exists(os.path.join(tier_dir, PLAN)) else {}
  order = [(c["experiment"], c["language"]) for c in plan.get("cells", [])]
  return sorted(found, key=lambda c: (order.index(c[:2]) if c[:2] in order else len(order), c[:2]))


def _settings(doc: dict) -> report_markdown.Settings:
  return report_markdown.Settings.of(doc.get("report") or {}, source=f"the config '{doc.get('name', 'report')}'")


def _write_report(runs, doc: dict, out_dir: str) -> rows.Findings:
  built = report_markdown.build(runs, _settings(doc))
  for name, fig in built.figures.items():
    compact.save_figure(fig, os.path.join(out_dir, name), FIGURE_DPI)
  compact.write_json(os.path.join(out_dir, rows.FILE), built.findings.to_json())
  compact.write_text(os.path.join(out_dir, REPORT), built.text)
  return built.findings


def _language_figures(root: str, tier: str, by_lang: dict, colors: dict) -> dict:
  """Writes the paper's figures per language; returns {language: [paths relative to root]}."""
  out = {}
  for lang, cells in by_lang.items():
    tasks = [(d.get("report") or {}).get("primary_task") for _, d, _ in cells.values()]
    task = next((t for t in tasks if t), "")  # the experiments' primary task (the quickstart records none)
    if not task:
      continue
    figs = {}
    if "continued" in cells:
      doc = cells["continued"][1]
      figs["continued"] = paper_figures.continued(cells["continued"][2], task, _settings(doc).saturated_gap, colors)
    if "model_size" in cells:
      figs["size"] = paper_figures.size(cells["model_size"][2], task, colors)
    groups = [cells[e][2] for e in ("model_size", "algorithms") if e in cells]
    if groups:
      figs["trace"] = paper_figures.trace(groups, task, colors)
    if "algorithms" in cells:
      figs["algorithms"] = paper_figures.algorithms(cells["algorithms"][2], task, colors)
    for key, fig in figs.items():
      if fig is None:
        continue
      rel = os.path.join(tier, FIGURES, f"{lang}_{FIGURE_NAMES[key]}.png")
      compact.save_figure(fig, os.path.join(root, rel), FIGURE_DPI)
      out.setdefault(lang, []).append(rel)
  return out


def _tier(root: str, tier: str) -> results_readme.Tier:
  """Rebuilds one tier's reports, figures and stage account from its records; returns what README.md needs."""
  tier_dir = os.path.join(root, tier)
  plan = compact.read_json(os.path.join(tier_dir, PLAN)) if os.path.exists(os.path.join(tier_dir, PLAN)) else {}
  cells, by_lang, arm_names, account_rows, step_cells = [], {}, [], [], []
  for exp, lang, doc in _cells(tier_dir):
    d = cell_dir(root, tier, exp, lang)
    runs = [compact.read(os.path.join(d, RUNS, compact.file_name(n))) for n in doc["runs"]]
    findings = _write_report(runs, doc, d)
    arm_names += [r.arm for r in runs]
    by_lang.setdefault(lang, {})[exp] = (d, doc, runs)
    step_cells.append((exp, lang, _settings(doc).saturated_gap, runs, doc["account"].get("training")))
    cells.append(results_readme.Cell(exp, lang, doc["command"], int(doc["seeds"]), doc["commit"], doc["account"],
                                     findings, os.path.relpath(d, root)))
    first = cell_baseline(doc, os.path.join(d, CELL))
    account_rows.append((exp, lang, len(runs), doc["account"],
                         f"measured ({doc['commit']}" + (f"; {stage_account.before_source(first)}" if first else "")
                         + stage_account.machine_source(doc.get("machines")) + ")",
                         first.get("account")))
  colors = figures_lib.arm_colors(arm_names)  # one colour per arm across the tier's figures
  figures = _language_figures(root, tier, by_lang, colors)
  missing = tuple(results_readme.Missing(c["experiment"], c["language"], c["command"], c["estimate"], c["source"],
                                         c.get("stale", ""), int(c.get("runs", 0)))
                  for c in to_run(plan, {(c.experiment, c.language) for c in cells}))
  stale = {(m.experiment, m.language) for m in missing if m.stale}
  # a stale record's minutes are another recipe's: shown, not counted in the tier's total
  account_rows = [(*row[:5], row[:2] not in stale, row[5]) for row in account_rows]
  befores = {(c["experiment"], c["language"]): c.get("before") for c in plan.get("cells", [])}  # tier.plan's
  account_rows += [(m.experiment, m.language, m.runs, m.estimate, f"not run: {m.source}", True,
                    befores.get((m.experiment, m.language))) for m in missing]
  compact.write_text(os.path.join(tier_dir, STAGES_MD), "\n".join(
      [f"# Per-stage account, tier `{tier}`", "",
       "Minutes per experiment × language and stage: measured cells from their timings.json (wall time less "
       "tracing and XLA compilation, which is its own column), missing cells from the plan's estimate. Before: the "
       "cell's first measurement (cell.json's baseline, its commit in the source column), kept when a cell is "
       "measured again; a cell measured once is its own before. Where a cell recorded its machine, the source names "
       "it with the time of a fixed reference program (flatness_jax.parallel.machine; no code change alters it): "
       "minutes measured on machines whose reference times differ were measured at different speeds.", ""]
      + stage_account.table(account_rows)) + "\n")
  compact.write_text(os.path.join(tier_dir, STEPS_MD), "\n".join(
      [f"# Training steps and the saturation gap, tier `{tier}`", "",
       "Per arm: the steps trained, each seed's first evaluated step from which every held-out evaluation is within "
       "the cell's saturation gap of L* (— where the last one is not), its final gap, and the mean share of its "
       "steps after that step. An upper bound on what stopping at the gap would save, not a recipe: `continued` "
       "trains past the gap by design, and equal-loss comparisons need each arm at the loss the slowest reaches. "
       "A recipe is one step count for all of an arm's seeds: the last column is the slowest seed's settled step, "
       "the most such a recipe could cut at these runs' schedules (flatness_jax.analysis.steps_account).", ""]
      + steps_account.table(step_cells)) + "\n")
  languages = tuple(dict.fromkeys([c.get("language") for c in plan.get("cells", [])] + [c.language for c in cells]))
  return results_readme.Tier(tier, tuple(cells), missing, figures, languages)


def to_run(plan: dict, have: set) -> list:
  """The plan's cells still to run: those with no record in `have` ({(experiment, language)}) and those whose
  record is stale (another command's or config's: tier.stale_record marks them)."""
  return [c for c in plan.get("cells", []) if (c["experiment"], c["language"]) not in have or c.get("stale")]


def tiers_of(root: str) -> list[str]:
  """Tiers recorded under `root` (directories with a plan or a cell), sorted."""
  if not os.path.isdir(root):
    return []
  return sorted(t for t in os.listdir(root) if os.path.isdir(os.path.join(root, t))
                and (os.path.exists(os.path.join(root, t, PLAN)) or _cells(os.path.join(root, t))))


def rebuild(root: str) -> str:
  """Rebuilds every generated file of results/ `root` from its plans, cell records and compact run records;
  returns README.md's path."""
  tiers = [_tier(root, t) for t in tiers_of(root)]
  if not tiers:
    raise ValueError(f"{root} holds no results (no <tier>/plan.json or <tier>/<experiment>/<language>/{CELL})")
  path = os.path.join(root, README)
  if jsonio.is_writer():
    compact.write_text(path, results_readme.build(tiers))
  return path


def run_results(config, workdir: str) -> None:
  """The 'results' job (configs/report.py:results): rebuilds config.results (default results/) and prints
  README.md."""
  del workdir
  path = rebuild(config.results)
  print(open(path, encoding="utf-8").read())
  print(f"results: {os.path.abspath(path)}")
