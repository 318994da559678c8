"""Fixtures of the job tests: one uninterrupted tiny run, trained once per session and never modified (tests copy
it before changing anything)."""
import pytest

from tests.jobs import faults


@pytest.fixture(scope="session")
def finished_tiny_run(tmp_path_factory):
  """A finished run of configs/tiny.py (40 steps; checkpoints 0, 1, 2, 4, 8, 16, 20, 40), trained in a subprocess."""
  wd = str(tmp_path_factory.mktemp("finished_tiny") / "run")
  proc = faults.main(wd)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return wd
