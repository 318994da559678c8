"""The at-a-minimum gate: negative curvature from Tr(H) ± SE and the top Ritz value, on operators of known spectrum."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flatness_curvature as curvature
from flatness_jax.analysis import gates, minima, points
from flatness_curvature import synthetic
from flatness_jax.rundir import records


def _point(trace, se, ritz=None, dof=31, run="m/seed_0", step=600):
  curv = records.Curvature(step=step, hessian={records.HUTCHINSON: records.Estimate(trace, se, dof=dof)},
                           lambda_max=records.Eigenvalue(float("nan") if ritz is None else ritz))
  ev = records.Evaluation.from_json({"step": step, "gap_relative": 0.01})
  return points.Point(run=run, step=step, num_params=10, eval=ev, curvature=curv,
                      probes=records.CheckpointProbes(step), arm=run.split("/")[0])


def test_a_checkpoint_is_at_a_minimum_only_when_its_trace_is_shown_positive_and_not_below_the_ritz_value():
  t = 2.0395  # t_{0.975, 31}
  assert minima.negative_curvature(_point(10.0, 1.0, ritz=5.0)) == ""
  assert minima.negative_curvature(_point(5.0, 1.0, ritz=5.0)) == ""                 # Tr(H) = λmax: PSD-consistent
  assert minima.negative_curvature(_point(3.0, 1.0, ritz=3.1)) == "m/seed_0 step 600: Tr(H) 3 < λmax 3.1"
  # The checkpoint: −50 ± 86 with λmax 33 (its upper bound, +125, passed the earlier rule).
  assert minima.negative_curvature(_point(-50.0, 86.0, ritz=33.0)) == "m/seed_0 step 600: Tr(H) -50 < 0"
  assert minima.negative_curvature(_point(-1.0, 1.0)) == "m/seed_0 step 600: Tr(H) -1 < 0"
  # Not resolved from zero: the lower 95% bound (t on the estimator's dof) at or below 0.
  assert minima.negative_curvature(_point(t - 0.01, 1.0)) == "m/seed_0 step 600: Tr(H) 2.03 ± 1 not resolved from 0"
  assert minima.negative_curvature(_point(t + 0.01, 1.0)) == ""
  assert "not resolved" in minima.negative_curvature(_point(3.0, 1.0, dof=3))         # t_{0.975, 3} = 3.18
  assert minima.negative_curvature(_point(float("nan"), float("nan"), ritz=5.0)) == (
      "m/seed_0 step 600: no Tr(H) measured")


def test_the_gate_names_the_first_bad_checkpoint_and_counts_them():
  ok = _point(10.0, 1.0, ritz=2.0, run="s/seed_0")
  bad = _point(1.0, 0.2, ritz=9.0, run="m/seed_1")
  assert gates.at_minimum([ok]) == gates.Gate("at a minimum", True, "1 checkpoints at a minimum")
  assert gates.at_minimum([ok, bad]) == gates.Gate(
      "at a minimum", False, "not at a minimum (1 of 2 checkpoints; m/seed_1 step 600: Tr(H) 1 < λmax 9)")


def _measured_point(eigenvalues, seed):
  """A Point whose Tr(H) and λmax come from the toolkit's Hutchinson and Lanczos on ½θᵀAθ, A of that spectrum."""
  a = jnp.asarray(synthetic.random_symmetric(np.asarray(eigenvalues, np.float64), seed=seed))
  loss = lambda theta, batch: 0.5 * theta @ (batch @ theta)  # pylint: disable=unnecessary-lambda-assignment
  theta = jnp.zeros(a.shape[0])
  est = curvature.hessian_trace(loss, theta, a, jax.random.key(seed), num_matvecs=200)
  ritz = curvature.lanczos_eigenvalues(curvature.hessian_matvec(loss, theta, a), theta, jax.random.key(seed + 1),
                                       1, 10)
  p = _point(float(est.value), float(est.stderr), ritz=float(ritz.eigenvalues[0]), dof=int(est.dof))
  return p, float(np.sum(eigenvalues))


@pytest.mark.parametrize("seed", range(4))
def test_the_toolkit_estimates_flag_an_indefinite_hessian_and_pass_a_psd_one(x64, seed):
  # λ = [20, 2, 2, ±0.5 × 37]: the same top eigenvalue, Tr = 5.5 (indefinite: less than λmax) or 42.5 (PSD).
  tail = [0.5] * 37
  indefinite, tr_ind = _measured_point([20.0, 2.0, 2.0] + [-x for x in tail], seed)
  psd, tr_psd = _measured_point([20.0, 2.0, 2.0] + tail, seed)
  for p, tr in ((indefinite, tr_ind), (psd, tr_psd)):
    value, se = p.trace()
    assert abs(value - tr) < 4 * se                                 # the estimates are what the gate assumes
    assert p.curvature.lambda_max.value <= 20.0 + 1e-9              # a Ritz value never exceeds λmax
  assert "< λmax" in minima.negative_curvature(indefinite)
  assert minima.negative_curvature(psd) == ""
