"""benchmarks/bench_checkpoint.py runs end to end and finds both save paths writing the same values."""
import os
import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_the_checkpoint_benchmark_prints_its_table_and_same_values():
  proc = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "benchmarks", "bench_checkpoint.py"),
                         "--sizes=xs", "--saves=1", "--rounds=1"], capture_output=True, text=True, timeout=300,
                        cwd=REPO_ROOT, env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert proc.returncode == 0, proc.stderr[-2000:]
  rows = [line for line in proc.stdout.splitlines() if line.startswith("| xs |")]
  assert len(rows) == 1 and rows[0].rstrip().endswith("| yes |"), proc.stdout
