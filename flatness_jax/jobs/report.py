"""The 'report' job (configs/report.py): report.md and its PNG figures in the workdir, built by
flatness_jax.analysis.report_markdown from the records of every run directory below `config.report.runs` (default:
the workdir), read by flatness_jax.rundir.reader; the report is printed too."""
import os

from flatness_jax.analysis import report_markdown
from flatness_jax.rundir import fields, jsonio, layout, reader

REPORT = "report.md"


def write_report(run_dirs, out_dir: str, *, saturated_gap: float = 0.03, iso_tol: float = 1.0) -> str:
  """Writes out_dir/report.md and its figures from `run_dirs` (in that order); returns the report's path."""
  text, figures = report_markdown.build([reader.read_run(d) for d in run_dirs], saturated_gap=saturated_gap,
                                        iso_tol=iso_tol)
  path = os.path.join(out_dir, REPORT)
  if jsonio.is_writer():
    for name, fig in figures.items():
      jsonio.save_figure(fig, os.path.join(out_dir, name))
    jsonio.write_text_atomic(path, text)
  return path


def run_report(config, workdir: str) -> None:
  """Every run directory below config.report.runs (default: workdir) → workdir/report.md, printed."""
  roots = fields.split_list(config.report.runs) or [workdir]
  dirs = sorted({d for root in roots for d in layout.find_run_dirs(root)})
  path = write_report(dirs, workdir, saturated_gap=config.report.saturated_gap, iso_tol=config.report.iso_tol)
  print(open(path).read())
  print(f"report: {os.path.abspath(path)}")
