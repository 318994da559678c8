"""A report (report.md + PNG figures) from run directories: gap, Tr(H), probe accuracies with CIs and verdicts.

Command:  python -m experiments.main --config=configs/report.py --workdir=runs/quickstart
          (every run directory below --workdir, or --config.report.runs=DIR1,DIR2)
Runtime:  seconds (it only reads run directories; run the curvature and probes jobs first).
"""
import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.job = "report"
  c.name = "report"
  c.report = ml_collections.ConfigDict()
  c.report.runs = ""             # Comma-separated roots searched for run directories ('' : the workdir).
  c.report.saturated_gap = 0.03  # Checkpoints within this fraction of L* count as converged (continued training).
  c.report.iso_tol = 1.0         # Iso-loss matching tolerance, in SEs of the loss difference.
  return c
