"""The 'report' job (configs/report.py): report.md, its PNG figures and findings.json (the typed record of every
row, flatness_jax.analysis.rows) in the workdir, built by flatness_jax.analysis.report_markdown from the records of
every run directory below `config.report.runs` (default: the workdir), read by flatness_jax.rundir.reader; the
report is printed too. The family of claims, the equal-loss margin and the primary task come from `config.report`
where set there, else from what the runs' own configs recorded (the experiment that trained them). With
`config.report.committed` (a results/ cell directory, as the quickstart sets), the report ends with whether seed 0
of its runs reproduced that committed record (flatness_jax.analysis.committed).

The report is built from the records first (reading only: bad settings, no run directories or a foreign directory
are refused with nothing written), then written under its output directory's writer lock: a directory that a
training run (or another job) writes now is refused in one line and left as it was. A run directory below
`config.report.runs` that another process writes is read as it stands and marked in the report as in progress."""
import os

from flatness_jax.analysis import committed, report_markdown, rows
from flatness_jax.rundir import fields, jsonio, layout, lock, reader

REPORT = "report.md"


def write_report(run_dirs, out_dir: str, config=None, **overrides) -> str:
  """Writes out_dir/report.md, its figures and findings.json from `run_dirs` (in that order); returns the report's
  path. config: the config whose `report` section sets the report (None: the defaults); overrides: claims.Settings
  fields."""
  report = config.get("report") if config is not None else None
  source = f"the config '{config.get('name', 'report')}'" if config is not None else "the report config"
  settings = report_markdown.Settings.of(report, source=source, **overrides)
  runs = [reader.read_run(d) for d in run_dirs]
  built = report_markdown.build(runs, settings)  # reads only: nothing written yet
  text = built.text
  if report is not None and report.get("committed"):  # the quickstart: did this machine reproduce results/?
    text += "\n".join(committed.section(runs, report.committed)) + "\n"
  path = os.path.join(out_dir, REPORT)
  with lock.writer_lock(out_dir):
    if jsonio.is_writer():
      for name, fig in built.figures.items():
        jsonio.save_figure(fig, os.path.join(out_dir, name))
      jsonio.write_json_atomic(os.path.join(out_dir, rows.FILE), built.findings.to_json())
      jsonio.write_text_atomic(path, text)
  return path


def run_report(config, workdir: str) -> None:
  """Every run directory below config.report.runs (default: workdir) → workdir/report.md, printed."""
  roots = fields.split_list(config.report.runs) or [workdir]
  dirs = sorted({d for root in roots for d in layout.find_run_dirs(root)})
  path = write_report(dirs, workdir, config)
  print(open(path).read())
  print(f"report: {os.path.abspath(path)}")
