"""Configs are configs: each experiment config's docstring says Command, Runtime and what it Reaches, and neither
docstrings nor comments carry measured history (values with their errors, "Measured: ..."), which lives in
results/ and git history."""
import ast
import glob
import os
import re

import pytest

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "configs")
# A measured value with its error (2.17 ± 0.27), or a measurement told as history.
HISTORY = re.compile(r"\d\s*±\s*\d|\bMeasured:|\bstopped at \d|\bit stopped\b")


def _config_files():
  out = []
  for path in sorted(glob.glob(os.path.join(CONFIGS, "*.py"))):
    tree = ast.parse(open(path).read())
    if any(isinstance(n, ast.FunctionDef) and n.name == "get_config" for n in tree.body):
      out.append(path)
  return out


@pytest.mark.parametrize("path", _config_files(), ids=os.path.basename)
def test_docstring_says_command_runtime_reaches(path):
  doc = ast.get_docstring(ast.parse(open(path).read())) or ""
  for field in ("Command:", "Runtime:", "Reaches:"):
    assert re.search(rf"^{field}", doc, re.M), f"{os.path.basename(path)}: no '{field}' line in its docstring"


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(CONFIGS, "*.py"))), ids=os.path.basename)
def test_no_measured_history(path):
  bad = [f"{i}: {line.strip()}" for i, line in enumerate(open(path), 1) if HISTORY.search(line)]
  assert not bad, f"{os.path.basename(path)} carries measured history (move it to results/): {bad}"


def test_the_history_pattern_catches_what_the_configs_used_to_say():
  assert HISTORY.search("# (at 2,600 it stopped at 2.17 ± 0.27% of L*, s at 1.11 ± 0.19%)")
  assert HISTORY.search("# before step 600, on every language. Measured: adapted from step 0 on the HMM")
  assert not HISTORY.search("  c.report.equal_loss_margin = 0.005  # inside ±0.5% of L* (TOST at 5%).")
