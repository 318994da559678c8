"""The curvature job's sharpness measures: what a checkpoint records is the library's value (flatness_curvature) of
the run's pre-training loss on the curvature pairs, at the configured radius; bad settings are named before any
measurement."""
import json

import jax
import ml_collections
import numpy as np
import pytest

import flatness_curvature as curvature
from experiments.configs import curvature as curvature_config
from experiments.configs import tiny
from flatness_jax.eval import curvature as curvature_lib
from flatness_jax.rundir import jsonio, records, rundir
from flatness_jax.train import objective
from tests.run_dirs import initial_run_dir


def _config(**overrides):
  cv = ml_collections.ConfigDict(curvature_config.get_config().curvature.to_dict())
  cv.methods, cv.num_matvecs, cv.rtol, cv.lanczos_iters, cv.tasks = "hutchinson", 4, 0.0, 3, ""
  cv.num_pairs, cv.batch_size, cv.fisher_examples = 48, 32, 40  # an uneven last batch: weights 32/48, 16/48
  cv.sharpness_samples, cv.sharpness_steps = 3, 3
  cv.update(overrides)
  return cv


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  config = tiny.get_config()
  config.model.preset = "cpu_tiny"
  workdir, _ = initial_run_dir(tmp_path_factory.mktemp("sharp") / "run", config)
  return rundir.RunDir(workdir)


def test_recorded_average_sharpness_is_its_definition(run):
  # S = mean_i ½[L(θ + c⊙ρδᵢ) + L(θ − c⊙ρδᵢ)] − L(θ), c = |θ|, δᵢ the library's Gaussian direction i of the
  # measure's key, L the run's loss on the curvature pairs (evaluated by the Measurer's own loss program).
  cfg = _config(sharpness="adaptive_average", sharpness_samples=2, num_pairs=32)  # one batch: one small program
  m = curvature_lib.Measurer(run, cfg)
  params, key = run.params(0), jax.random.key(5)
  got, rho = m.measure_sharpness(params, key)
  assert rho == {"adaptive_average": cfg.rho.adaptive_average}
  k = jax.random.fold_in(key, curvature_lib._SHARPNESS_FOLD  # pylint: disable=protected-access
                         + curvature_lib.SHARPNESS.index("adaptive_average"))
  like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), params)
  base = float(m.mean_loss(params, m.batches))
  samples = []
  for i in range(2):
    eps = jax.tree.map(lambda d, p: rho["adaptive_average"] * abs(p) * d,
                       curvature.random_vector(k, i, like, distribution="gaussian"), params)
    up = float(m.mean_loss(jax.tree.map(np.add, params, eps), m.batches))
    down = float(m.mean_loss(jax.tree.map(np.subtract, params, eps), m.batches))
    samples.append(0.5 * (up + down) - base)
  e = got["adaptive_average"]
  np.testing.assert_allclose([e.value, e.stderr], [np.mean(samples), np.std(samples, ddof=1) / np.sqrt(2)],
                             rtol=1e-3, atol=1e-6)
  assert e.cost == 5 and e.unit == "samples" and e.dof == 1 and e.converged is None


@pytest.mark.slow  # compiles every measure twice (the Measurer's program and the library's): minutes on 2 cores
def test_recorded_sharpness_is_the_librarys_value(run):
  cfg = _config(sharpness=",".join(curvature_lib.SHARPNESS))
  m = curvature_lib.Measurer(run, cfg)
  params, key = run.params(0), jax.random.key(3)
  got, rho = m.measure_sharpness(params, key)
  assert list(got) == list(curvature_lib.SHARPNESS)
  assert rho == {n: cfg.rho[n] for n in curvature_lib.SHARPNESS if n != curvature_lib.FISHER_RAO}
  loss_fn, logits_fn = objective.loss_fn_for(run.model), objective.logits_fn_for(run.model)
  keys = {n: jax.random.fold_in(key, curvature_lib._SHARPNESS_FOLD + i)  # pylint: disable=protected-access
          for i, n in enumerate(curvature_lib.SHARPNESS)}
  for name in ("average", "adaptive_average"):
    want = curvature.average_sharpness(loss_fn, params, m.batches, keys[name], cfg.rho[name], num_samples=3,
                                       adaptive=name.startswith("adaptive"))
    np.testing.assert_allclose([got[name].value, got[name].stderr], [want.value, want.stderr], rtol=2e-4)
    assert got[name].cost == 7 and got[name].dof == 2
  for name in ("worst", "adaptive_worst"):
    want = curvature.worst_case_sharpness(loss_fn, params, m.batches, keys[name], cfg.rho[name], num_steps=3,
                                          adaptive=name.startswith("adaptive"))
    np.testing.assert_allclose(got[name].value, want.value, rtol=2e-4)
    assert got[name].converged == bool(want.converged) and got[name].cost == 4 and got[name].unit == "gradients"
  want = curvature.fisher_rao_norm_sq(logits_fn, params, {k: np.concatenate([b[k] for b in m.batches])[:40]
                                                          for k in ("inputs", "positions")})
  np.testing.assert_allclose([got["fisher_rao"].value, got["fisher_rao"].stderr], [want.value, want.stderr],
                             rtol=2e-4)
  assert got["fisher_rao"].cost == 40
  # Plain and adaptive measures differ (the |θ| scaling is applied), and every value is a finite rise of the loss.
  assert got["average"].value != got["adaptive_average"].value
  assert all(np.isfinite(e.value) for e in got.values()) and got["worst"].value > 0
  # What a checkpoint records reads back the same, radius included.
  c = records.Curvature(step=0, measures=got, measure_rho=rho)
  back = records.Curvature.from_json(0, json.loads(json.dumps(jsonio.jsonable(c.to_json()))))
  assert back.measure_rho == rho and all(back.estimate(n).value == e.value for n, e in got.items())


@pytest.mark.parametrize("overrides, message", [
    ({"sharpness": "average,flat"}, r"curvature.sharpness: unknown measure\(s\) \['flat'\]"),
    ({"sharpness": "worst", "rho": {"worst": 0.0}}, r"curvature.rho.worst=0.0: .* must be > 0"),
    ({"sharpness": "average", "sharpness_samples": 1}, r"curvature.sharpness_samples=1 must be >= 2"),
])
def test_bad_sharpness_settings_are_named(run, overrides, message):
  with pytest.raises(ValueError, match=message):
    curvature_lib.Measurer(run, _config(**overrides))
