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
    # curvature estimators (the flatness_curvature distribution in curvature/)
    "curvature.estimate": ["curvature/tests/test_trace.py", "curvature/tests/test_coverage.py",
                           "curvature/tests/test_inputs.py"],
    "curvature.hutchinson": ["curvature/tests/test_trace.py", "curvature/tests/test_coverage.py"],
    "curvature.hutchpp": ["curvature/tests/test_trace.py", "curvature/tests/test_coverage.py"],
    "curvature.xtrace": ["curvature/tests/test_trace.py", "curvature/tests/test_coverage.py"],
    "curvature.hessian": ["curvature/tests/test_hessian.py", "curvature/tests/test_batches.py"],
    "curvature.lanczos": ["curvature/tests/test_lanczos.py"],
    "curvature.fisher_trace": ["curvature/tests/test_fisher_trace.py"],
    "curvature.fisher": ["curvature/tests/test_fisher.py"],
    "curvature.slq": ["curvature/tests/test_lanczos.py", "curvature/tests/test_coverage.py"],
    "curvature.ggn": ["curvature/tests/test_ggn.py"],
    "curvature.diagonal": ["curvature/tests/test_diagonal.py"],
    "curvature.xdiag": ["curvature/tests/test_diagonal.py"],
    "curvature.sharpness_average": ["curvature/tests/test_sharpness.py"],
    "curvature.sharpness_worst": ["curvature/tests/test_sharpness.py"],
    "curvature.batches": ["curvature/tests/test_batches.py"],
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
                  "curvature.hessian", "curvature.lanczos", "curvature.fisher_trace", "curvature.fisher",
                  "curvature.slq", "curvature.ggn", "curvature.diagonal", "curvature.xdiag",
                  "curvature.sharpness_average", "curvature.sharpness_worst", "curvature.batches"],
    "data": ["data.inside_outside", "data.hmm", "data.lm"],
    "train": ["train.heldout", "train.objective"],
    "models": ["models.embed", "models.embed_lstm"],
}


def source_path(module: str) -> str:
  """The module's file, relative to the repository root (curvature.X: the library's private module _X)."""
  package, _, name = module.partition(".")
  if package == "curvature":
    return os.path.join("curvature", "flatness_curvature", f"_{name}.py")
  return os.path.join("flatness_jax", *module.split(".")) + ".py"


def tests_for(module: str) -> list:
  return list(TARGETS[module])
