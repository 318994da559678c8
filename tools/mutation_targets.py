"""What tools/mutate.py mutates and which tests must catch it: module → the fast tests of that module.

Module names are dotted under flatness_jax (`analysis.stats` is flatness_jax/analysis/stats.py). The groups are the
issue's: the modules whose numbers the report prints (curvature: the estimators the report's numbers come from;
curvature_more: the rest of the library). A test is a file, a folder or a pytest node id (file::test).
"""
import os

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_STATS = "tests/analysis/test_stats.py"
_REPORT = "tests/analysis/test_report.py"
_MINIMA_FAST = ("tests/analysis/test_minima.py::"
                "test_a_checkpoint_is_at_a_minimum_only_when_its_trace_is_shown_positive_and_not_below_the_ritz_value")
_DECLARED = ("tests/analysis/test_report_simulated.py::"
             "test_every_declared_claim_is_tested_on_the_primary_task_when_the_records_measure_it")
_RECORDS = "tests/rundir/test_records.py"
_BLOCKS = "curvature/tests/test_building_blocks.py"

# Fast tests first: the tool runs them with -x, so a killed mutant costs only the tests up to the first failure.
TARGETS = {
    # statistics and verdicts
    "analysis.stats": [_STATS],
    "analysis.cluster": [_STATS],
    "analysis.power": [_STATS],
    "analysis.family": [_STATS, "tests/analysis/test_gates.py", _DECLARED, _REPORT],
    "analysis.gates": ["tests/analysis/test_gates.py", _MINIMA_FAST, _REPORT],
    "analysis.findings": [_STATS, "tests/analysis/test_gates.py", _DECLARED, _REPORT],
    "analysis.isoloss": [_STATS, _REPORT],
    "analysis.minima": ["tests/analysis/test_gates.py", "tests/analysis/test_minima.py", _REPORT],
    "analysis.replicates": [_STATS, "tests/analysis/test_gates.py", _REPORT],
    # records
    "rundir.pair_losses": [_RECORDS, _REPORT],
    "rundir.records": ["tests/rundir", _REPORT, "tests/eval/test_curvature.py"],
    "rundir.integrity": [_RECORDS, "tests/rundir/test_checkpoints.py"],
    # curvature estimators (the flatness_curvature distribution in curvature/)
    "curvature.estimate": [_BLOCKS, "curvature/tests/test_trace.py", "curvature/tests/test_coverage.py"],
    "curvature.hutchinson": [_BLOCKS, "curvature/tests/test_trace.py", "curvature/tests/test_coverage.py"],
    "curvature.hutchpp": [_BLOCKS, "curvature/tests/test_trace.py", "curvature/tests/test_coverage.py"],
    "curvature.xtrace": [_BLOCKS, "curvature/tests/test_trace.py", "curvature/tests/test_coverage.py"],
    "curvature.hessian": ["curvature/tests/test_hessian.py"],
    "curvature.lanczos": ["curvature/tests/test_lanczos.py"],
    "curvature.fisher_trace": ["curvature/tests/test_fisher_trace.py"],
    "curvature.fisher": ["curvature/tests/test_fisher.py"],
    "curvature.slq": ["curvature/tests/test_lanczos.py"],
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
    "models.embed": ["tests/models/test_embed.py", "tests/models/test_embed_lstm.py"],  # embed_params dispatches LSTMs
    "models.embed_lstm": ["tests/models/test_embed_lstm.py"],
}

GROUPS = {
    "statistics": ["analysis.stats", "analysis.cluster", "analysis.power", "analysis.family", "analysis.gates",
                   "analysis.findings", "analysis.isoloss", "analysis.minima", "analysis.replicates"],
    "records": ["rundir.pair_losses", "rundir.records", "rundir.integrity"],
    "curvature": ["curvature.estimate", "curvature.hutchinson", "curvature.hutchpp", "curvature.xtrace",
                  "curvature.hessian", "curvature.lanczos", "curvature.fisher_trace", "curvature.fisher",
                  "curvature.slq"],
    "curvature_more": ["curvature.ggn", "curvature.diagonal", "curvature.xdiag", "curvature.sharpness_average",
                       "curvature.sharpness_worst", "curvature.batches"],
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
