"""What tools/mutate.py mutates and which tests must catch it: module → the fast tests of that module.

Module names are dotted under flatness_jax (`analysis.stats` is flatness_jax/analysis/stats.py). The groups are the
issue's: the modules whose numbers the report prints.
"""
import os

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TARGETS = {
    # statistics and verdicts
    "analysis.stats": ["tests/analysis/test_stats.py"],
    "analysis.findings": ["tests/analysis/test_report.py", "tests/analysis/test_minima.py"],
    "analysis.isoloss": ["tests/analysis/test_report.py"],
    "analysis.minima": ["tests/analysis/test_minima.py", "tests/analysis/test_report.py"],
    "analysis.replicates": ["tests/analysis/test_report.py", "tests/analysis/test_minima.py"],
    # records
    "rundir.pair_losses": ["tests/rundir", "tests/analysis/test_report.py"],
    "rundir.records": ["tests/rundir", "tests/analysis/test_report.py", "tests/eval/test_curvature.py"],
    # curvature estimators
    "curvature.estimate": ["tests/curvature"],
    "curvature.hutchinson": ["tests/curvature"],
    "curvature.hutchpp": ["tests/curvature"],
    "curvature.xtrace": ["tests/curvature"],
    "curvature.hvp": ["tests/curvature"],
    "curvature.lanczos": ["tests/curvature"],
    "curvature.fisher": ["tests/curvature"],
    "curvature.slq": ["tests/curvature"],
    # exact data
    "data.inside_outside": ["tests/data/test_inside_outside.py", "tests/data/test_pcfg.py"],
    "data.hmm": ["tests/data/test_hmm.py"],
    "data.lm": ["tests/data/test_lm.py"],
    # training quantities
    "train.heldout": ["tests/train/test_heldout.py"],
    "train.objective": ["tests/train/test_objective.py"],
    # models
    "models.embed": ["tests/models/test_embed.py"],
    "models.embed_lstm": ["tests/models/test_embed_lstm.py"],
}

GROUPS = {
    "statistics": ["analysis.stats", "analysis.findings", "analysis.isoloss", "analysis.minima",
                   "analysis.replicates"],
    "records": ["rundir.pair_losses", "rundir.records"],
    "curvature": ["curvature.estimate", "curvature.hutchinson", "curvature.hutchpp", "curvature.xtrace",
                  "curvature.hvp", "curvature.lanczos", "curvature.fisher", "curvature.slq"],
    "data": ["data.inside_outside", "data.hmm", "data.lm"],
    "train": ["train.heldout", "train.objective"],
    "models": ["models.embed", "models.embed_lstm"],
}


def source_path(module: str) -> str:
  """The module's file, relative to the repository root."""
  return os.path.join("flatness_jax", *module.split(".")) + ".py"


def tests_for(module: str) -> list:
  return list(TARGETS[module])
