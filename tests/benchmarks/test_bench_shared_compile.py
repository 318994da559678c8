"""benchmarks/bench_shared_compile.py runs end to end: two seeds at once compile their training chunk once when
shared, twice when not, with the same metrics."""
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_the_shared_compile_benchmark_compiles_once_with_the_same_metrics():
  proc = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "benchmarks", "bench_shared_compile.py"), "--tiny",
                         "--sizes=cpu_tiny"], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
                        env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert proc.returncode == 0, proc.stderr[-2000:]
  rows = {line.split("|")[2].strip(): line for line in proc.stdout.splitlines() if line.startswith("| cpu_tiny |")}
  assert rows["separate"].split("|")[4].strip() == "2" and rows["shared"].split("|")[4].strip() == "1", proc.stdout
  assert rows["shared / separate"].rstrip().endswith("| yes |"), proc.stdout
