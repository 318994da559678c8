"""benchmarks/cli.py: the count options of every benchmark refuse a count below 1 in argparse's one line."""
import argparse
import subprocess
import sys

import pytest

from benchmarks import cli


def test_positive_int_accepts_counts_and_names_the_rest():
  assert cli.positive_int("1") == 1 and cli.positive_int("20") == 20
  for text, said in (("0", "must be >= 1, got 0"), ("-3", "must be >= 1, got -3"), ("two", "int >= 1, got 'two'")):
    with pytest.raises(argparse.ArgumentTypeError, match=said):
      cli.positive_int(text)


@pytest.mark.parametrize("script, option", [("bench_concurrent", "--chunks"), ("bench_feed", "--rounds"),
                                            ("bench_checkpoint", "--saves"), ("bench_lm_sampling", "--steps")])
def test_a_benchmark_refuses_a_zero_count_in_one_line(script, option):
  """Exit 2 with argparse's usage and one error line naming the option, before anything is imported or timed."""
  out = subprocess.run([sys.executable, f"benchmarks/{script}.py", f"{option}=0"], capture_output=True, text=True,
                       timeout=60)
  assert out.returncode == 2
  assert out.stderr.strip().splitlines()[-1].endswith(f"argument {option}: must be >= 1, got 0")
