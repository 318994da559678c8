"""A report (report.md + PNG figures + findings.json) from run directories: the declared claims tested as one
family (Holm), every other comparison with its interval.

Command:  python -m experiments.main --config=configs/report.py --workdir=runs/quickstart
          (every run directory below --workdir, or --config.report.runs=DIR1,DIR2)
          python -m experiments.main --config=configs/report.py:results   rebuilds every generated file of results/
          (reports, figures, findings.json, stages.md, steps.md, README.md) from its committed compact run records,
          byte for byte (--config.results=DIR for another results directory).
Runtime:  seconds (it only reads run directories; run the curvature and probes jobs first); :results, seconds per
          experiment × language.
Reaches:  report.md with the family's verdicts; :results, results/ identical to the committed files.
"""
import ml_collections
from ml_collections import config_dict

from experiments.configs import common


def get_config(arg=None):
  """arg: 'results' (rebuild results/ from its records instead of a report from run directories)."""
  a = common.parse_arg(arg, __file__, results=False)
  c = ml_collections.ConfigDict()
  c.job = "results" if a.results else "report"
  c.name = "report"
  c.results = "results"          # results mode: the results directory to rebuild (relative to the current one).
  c.report = ml_collections.ConfigDict()
  c.report.runs = ""             # Comma-separated roots searched for run directories ('' : the workdir).
  c.report.saturated_gap = 0.03  # Checkpoints within this fraction of L* count as converged (continued training).
  c.report.iso_tol = 1.0         # Iso-loss matching tolerance, in SEs of the loss difference.
  # The confirmatory family: comma-separated claims of flatness_jax.analysis.claims (continued, size, algorithm,
  # flatter, flatness_beyond_size, downstream_flatness, drift); '' none. Unset: what the runs' experiment recorded.
  c.report.claims = config_dict.placeholder(str)
  # Equal loss = the 90% interval of Δgap inside ±this fraction of L* (TOST at 5%). Unset: as the runs recorded.
  c.report.equal_loss_margin = config_dict.placeholder(float)
  # The task of the confirmatory rows. Unset: as the runs recorded (languages.py), else their adversarial.task.
  c.report.primary_task = config_dict.placeholder(str)
  c.report.committed = ""         # A results/ cell directory (results/<tier>/<experiment>/<language>): the report
  #                                 ends with whether seed 0 of its runs reproduced that committed record ('' none).
  return c
