"""benchmarks/bench_lm_sampling.py runs end to end and finds both buffer layouts drawing the same sentences (slow:
it builds the cpu-tier LM language; .ci/run's slow step runs it)."""
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_the_lm_sampling_benchmark_prints_its_table_and_same_sentences():
  proc = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "benchmarks", "bench_lm_sampling.py"),
                         "--steps=1", "--rounds=1"], capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
                        env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "| draw, cache layout (the language's) |" in proc.stdout
  assert "same sentences from both layouts: yes" in proc.stdout
