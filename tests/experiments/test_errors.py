"""Bad input stops the entry point with one line and exit status 2; --traceback and unexpected errors keep the
traceback."""
import os
import subprocess
import sys

import pytest

from experiments import errors
from tests.conftest import REPO_ROOT


def _main(*args, timeout=300):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "experiments.main", *args], cwd=REPO_ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


def _one_line(proc):
  assert proc.returncode == errors.EXIT_BAD_INPUT, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
  return proc.stderr.strip().splitlines()[-1]


def test_bad_grammar_file_is_one_line(tmp_path):
  bad = tmp_path / "bad.txt"
  bad.write_text("S A 1.0\nA a b c d 0.5\n")
  proc = _main("--config=configs/data_card.py", "--config.data.preset=file", f"--config.data.grammar_path={bad}",
               f"--workdir={tmp_path / 'card'}")
  line = _one_line(proc)
  assert line.startswith("error: ") and f"{bad}:2" in line and "arity" in line, line


def test_bad_config_value_is_one_line(tmp_path):
  proc = _main("--config=configs/tiny.py", "--config.optimizer.name=adagrad", f"--workdir={tmp_path / 'run'}")
  line = _one_line(proc)
  assert line.startswith("error: optimizer.name='adagrad' is unknown"), line


def test_traceback_flag_keeps_the_traceback(tmp_path):
  proc = _main("--config=configs/tiny.py", "--config.optimizer.name=adagrad", f"--workdir={tmp_path / 'run'}",
               "--traceback")
  assert proc.returncode not in (0, errors.EXIT_BAD_INPUT) and "Traceback" in proc.stderr
  assert "optimizer.name='adagrad'" in proc.stderr


def test_errors_raised_inside_libraries_are_not_bad_input(capsys):
  from flatness_jax.data import make_language  # pylint: disable=g-import-not-at-top
  with pytest.raises(SystemExit) as exit_info:  # our own check: one line
    with errors.one_line():
      make_language({"kind": "nope"})
  assert exit_info.value.code == errors.EXIT_BAD_INPUT
  assert capsys.readouterr().err == "error: unknown data.kind='nope'; known kinds: ['hmm', 'lm', 'pcfg']\n"
  import numpy as np  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError):  # numpy's own ValueError: a bug, not bad input, so the traceback stays
    with errors.one_line():
      np.zeros(3).reshape(2, 2)
  with pytest.raises(KeyError):
    with errors.one_line():
      raise KeyError("unexpected")


def test_message_folds_newlines():
  assert errors.message(RuntimeError("no readable checkpoint:\n  step 4: bad")) == \
      "error: no readable checkpoint: step 4: bad"
