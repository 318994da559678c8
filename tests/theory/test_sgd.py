"""SGD on the check model: starts on Γ, fresh reproducible samples, and the Theorem 4.3 ratio at the smallest η."""
import jax.numpy as jnp
import numpy as np
import pytest

from flatness_jax.theory import model, sgd, sweep

# The default tier's ratio check: the smallest learning rate of configs/theory_drift.py, B = 1 and 4, half the
# default horizon, 4 records (the same compiled programs as test_job.py's run).
SMALL = sweep.Settings(learning_rates=(0.0125,), batch_sizes=(1, 4), horizon=0.5, num_records=4, num_seeds=16)


@pytest.fixture(scope="module")
def small_sweep():
  return sweep.run_sweep(SMALL)


def test_runs_start_on_gamma_at_the_minimum(start):
  problem, theta = start
  out = sgd.run(problem, theta, learning_rate=0.1, batch_size=1, num_seeds=16, record_every=10, num_records=4)
  assert float(jnp.abs(out["loss_gap"][:, 0]).max()) < 1e-10
  assert float(out["distance"][:, 0].max()) < 1e-10
  np.testing.assert_allclose(np.asarray(out["trace"][:, 0]), float(model.hessian_trace(theta, problem)), rtol=1e-14)
  np.testing.assert_allclose(np.asarray(out["t"]), 0.01 * 10 * np.arange(5), rtol=1e-14)
  assert float(out["distance"][:, -1].min()) > 0  # then the noise moves it off Γ


def test_seeds_are_reproducible_and_independent(start):
  problem, theta = start
  kw = dict(learning_rate=0.1, batch_size=1, num_seeds=16, record_every=10, num_records=4)
  a, b = sgd.run(problem, theta, **kw), sgd.run(problem, theta, **kw)
  np.testing.assert_array_equal(np.asarray(a["trace"]), np.asarray(b["trace"]))
  last = np.asarray(a["trace"][:, -1])
  assert len(np.unique(last)) == len(last)
  c = sgd.run(problem, theta, seed=1, **kw)
  assert not np.allclose(np.asarray(c["trace"][:, -1]), last)


@pytest.mark.parametrize("batch_size", SMALL.batch_sizes)
def test_decrease_ratio_at_the_smallest_lr_is_one(small_sweep, batch_size):
  """Measured/predicted decrease of Tr∇²L at t = B/2: 1 within a 95% interval of half-width < 0.03 (on Γ) and
  < 0.2 (at the iterate). A constant 1/(2B) instead of 1/(4B) would give 0.5, no 1/B would give B."""
  cell = next(c for c in small_sweep["cells"] if c["batch_size"] == batch_size)
  on_gamma, iterate = cell["ratio_on_gamma"], cell["ratio"]
  assert abs(on_gamma["ratio"] - 1) < 0.03 and on_gamma["ci95"][1] - on_gamma["ci95"][0] < 0.06
  assert iterate["ci95"][0] < 1 < iterate["ci95"][1] and iterate["ci95"][1] - iterate["ci95"][0] < 0.4
  assert cell["flow_trace"][0] - cell["flow_trace"][-1] > 0.15 * cell["flow_trace"][0]  # a decrease worth testing
  assert 0.85 < cell["distance_rms"] / cell["distance_predicted"] < 1.15
