"""Shared pytest fixtures.

Float64 is switched on per test through the `x64` fixture (exact quantities are checked in float64), so tests of
float32 training code keep JAX's default precision. XLA's optimisation passes are mostly off in the tests, in this
process and in the subprocesses it starts (JAX_DISABLE_MOST_OPTIMIZATIONS=1 unless set): the test problems are tiny,
so a test's time is mostly compilation, which this shortens, and no result changes beyond
rounding (`JAX_DISABLE_MOST_OPTIMIZATIONS=0 python -m pytest` runs them with XLA's optimisations). Multi-device
tests run in a subprocess with XLA_FLAGS set (a session's JAX fixes its device count at first import): see
`run_python` below.
"""
import os
import subprocess
import sys
import tempfile
import textwrap

os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")  # before JAX reads its configuration (docstring)

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

from flatness_jax.parallel import compile_cache  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One persistent XLA cache for this test session (inherited by the subprocess runs of experiments.main), so the
# many tiny runs compile their programs once; private to the session, never the user's own cache.
os.environ.setdefault("FLATNESS_COMPILATION_CACHE", tempfile.mkdtemp(prefix="flatness_jax_xla_cache_"))
# Tests never touch the network: the released grammar is never downloaded (flatness_jax.data.released); the tests of
# the download itself serve it from 127.0.0.1 and lift this for their own duration.
os.environ["FLATNESS_OFFLINE"] = "1"
# (a plugin may have imported JAX before this file: apply the setting to this process explicitly)
jax.config.update("jax_disable_most_optimizations", os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] not in ("0", ""))
# This process reads and writes the session's cache too: the in-process tests build the same small models in many
# files (and, under pytest-xdist, in several workers), and a program compiled once is read back after.
compile_cache.enable(os.environ["FLATNESS_COMPILATION_CACHE"])


# The longest test files (end-to-end, multi-process and subprocess runs; by their measured durations), collected
# first so that pytest-xdist's workers start them early and the many short files fill in after: a long file picked up
# last leaves the other worker idle at the end. setup.cfg passes --no-loadscope-reorder, without which xdist queues
# the files by their number of tests instead (one-test files, the longest here, last). Intra-file order is kept.
LONGEST_FIRST = ("tests/parallel/test_multiprocess.py", "tests/train/test_loop.py",
                 "tests/experiments/test_quickstart.py", "tests/jobs/test_faults.py", "tests/jobs/test_train.py",
                 "tests/train/test_step.py", "curvature/tests/test_readme.py", "tests/parallel/test_resources.py",
                 "tests/data/test_lm.py", "tests/jobs/test_resume.py", "tests/jobs/test_concurrent_runs.py",
                 "tests/analysis/test_report_simulated.py",
                 "tests/train/test_algorithms.py", "curvature/tests/test_model_styles.py",
                 "tests/eval/test_curvature_sharpness.py", "tests/experiments/test_errors.py",
                 "tests/eval/test_finetune.py")


def pytest_collection_modifyitems(config, items):
  del config
  rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(os.path.relpath(str(item.path), REPO_ROOT), len(rank)))


@pytest.fixture
def x64():
  """Runs the test with jax_enable_x64 on."""
  with jax.enable_x64(True):
    yield


@pytest.fixture
def released_grammar_path():
  """A checksum-verified local copy of the authors' released grammar, never downloaded: the file named by
  FLATNESS_RELEASED_GRAMMAR, else the per-user cache's copy (flatness_jax.data.released); skips, saying which
  variable to set, when neither holds it. A wrong file under either name fails the test instead."""
  from flatness_jax.data import released  # pylint: disable=g-import-not-at-top
  path = released.grammar_path() if os.environ.get(released.PATH_ENV) else released.cached_copy()
  if path is None:
    pytest.skip(f"the authors' released grammar is not available offline: set {released.PATH_ENV}=PATH to a copy "
                f"of {released.URL} (sha256 {released.SHA256})")
  return path


def run_python(code, *, devices=1, timeout=600, env=None, cwd=REPO_ROOT):
  """Runs `code` in a fresh Python with `devices` simulated CPU devices; returns CompletedProcess (checked)."""
  full_env = dict(os.environ)
  full_env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  full_env["JAX_PLATFORMS"] = "cpu"
  full_env["PYTHONPATH"] = REPO_ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
  if env:
    full_env.update(env)
  proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env, cwd=cwd,
                        capture_output=True, text=True, timeout=timeout)
  if proc.returncode != 0:
    raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
  return proc
