"""The curvature job on run directories: Tr(H) after embedding into a larger sibling run's architecture."""
import json

import jax
import ml_collections
import numpy as np
import pytest

from experiments.configs import curvature as curvature_config
from experiments.configs import tiny
from flatness_jax.jobs import curvature as curvature_job
from flatness_jax.rundir import jsonio, records
from tests.run_dirs import initial_run_dir


def _run_dir(path, preset):
  """A run directory holding the initial parameters of `preset` on the tiny language (checkpoint 0)."""
  config = tiny.get_config()
  config.model.preset = preset
  workdir, state = initial_run_dir(path, config)
  return workdir, int(sum(x.size for x in jax.tree.leaves(state.params)))


def _config(embed_into):
  c = ml_collections.ConfigDict({"curvature": curvature_config.get_config().curvature.to_dict()})
  cv = c.curvature
  cv.methods, cv.num_matvecs, cv.rtol, cv.lanczos_iters, cv.tasks = "hutchinson", 4, 0.0, 3, ""
  cv.num_pairs, cv.batch_size, cv.fisher_examples, cv.embed_into = 64, 32, 32, embed_into
  return c


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("sizes")
  small, _ = _run_dir(root / "small", "cpu_tiny")   # d 32, 1 layer, 2 heads of 16, FFN 128
  large, n_large = _run_dir(root / "large", "cpu_s")  # d 64, 2 layers, 4 heads of 16, FFN 256
  return small, large, n_large


@pytest.mark.slow  # compiles every curvature estimator for two models: ~1 min on 2 cores
def test_embedded_trace_is_measured_on_the_same_function(runs):
  small, large, n_large = runs
  r = curvature_job.run_curvature(_config("large"), small)[0]
  assert r.embedded_into == "large" and r.embedded_params == n_large and r.embedded.cost == 4
  np.testing.assert_allclose(r.embedded_loss, r.loss, rtol=1e-5)  # the embedding preserves the function
  assert np.isfinite(r.embedded.value) and r.embedded.stderr > 0
  recorded = records.read_curvature_steps(json.load(open(f"{small}/curvature.json")))[0]
  as_json = lambda c: json.dumps(jsonio.jsonable(c.to_json()))  # pylint: disable=unnecessary-lambda-assignment
  assert as_json(recorded) == as_json(r) and recorded.measures  # the record reads back what was measured
  own = curvature_job.run_curvature(_config("large"), large)[0]
  assert own.embedded.value == own.estimate(records.HUTCHINSON).value


def test_embedding_errors_name_the_problem(runs):
  small, large, _ = runs
  with pytest.raises(ValueError, match="not a run directory"):
    curvature_job.run_curvature(_config("missing"), small)
  with pytest.raises(ValueError, match="cannot shrink|must grow"):
    curvature_job.run_curvature(_config("small"), large)


def test_config_rtol_zero_is_a_fixed_budget_and_negative_is_named(runs):
  small, _, _ = runs
  c = _config("")
  c.curvature.rtol = -0.1
  with pytest.raises(ValueError, match="curvature.rtol=-0.1"):
    curvature_job.run_curvature(c, small)
