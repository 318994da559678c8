"""Ratio intervals over seeds, the η → 0 extrapolation, and the predicted distance to Γ against brute force."""
import numpy as np
from scipy import stats as sps

from flatness_jax.theory import compare


def test_ratio_ci_is_the_student_t_interval_over_seeds():
  rng = np.random.default_rng(0)
  decrease = 2.0 * 1.5 + rng.normal(0, 0.1, 16)
  out = compare.ratio_ci(decrease, 1.5)
  r = decrease / 1.5
  half = sps.t.ppf(0.975, 15) * r.std(ddof=1) / 4
  assert abs(out["ratio"] - r.mean()) < 1e-15 and abs(out["ci95"][1] - out["ci95"][0] - 2 * half) < 1e-12
  assert out["ci95"][0] < 2.0 < out["ci95"][1]


def test_decrease_ratio_uses_the_decrease_from_the_first_record():
  flow = np.array([5.0, 4.0, 3.0])
  traces = np.array([[5.0, 4.5, 4.0], [5.0, 4.0, 4.0]])  # decreases 1.0 and 1.0 of a predicted 2.0
  out = compare.decrease_ratio(traces, flow)
  assert out["ratio"] == 0.5 and out["predicted_decrease"] == 2.0
  assert compare.decrease_ratio(traces, flow, index=1)["ratio"] == 0.75


def test_extrapolation_recovers_a_planted_intercept():
  eta = np.array([0.2, 0.1, 0.05, 0.025])
  exact = compare.extrapolate_to_zero(eta, 1.0 + 0.4 * eta, np.full(4, 0.01))
  assert abs(exact["intercept"] - 1.0) < 1e-12 and abs(exact["slope"] - 0.4) < 1e-12
  rng = np.random.default_rng(1)
  se = np.array([0.05, 0.02, 0.01, 0.005])
  noisy = compare.extrapolate_to_zero(eta, 0.9 + 0.4 * eta + rng.normal(0, se), se)
  assert abs(noisy["intercept"] - 0.9) < 3 * noisy["se"] and noisy["se"] < 0.02


def test_predicted_distance_matches_simulated_linear_sgd():
  """n ← (I − ηH) n + η ξ, ξ ~ N(0, H/B), with a zero eigenvalue (a tangent direction that gets no noise)."""
  lam, eta, batch = np.array([0.0, 0.5, 1.0, 3.0]), 0.3, 4
  rng = np.random.default_rng(2)
  n = np.zeros((20000, 4))
  for _ in range(200):
    n = (1 - eta * lam) * n + eta * np.sqrt(lam / batch) * rng.normal(size=n.shape)
  measured = np.sqrt(np.mean(np.sum(n ** 2, axis=1)))
  predicted = compare.predicted_distance(np.diag(lam), eta, batch)
  assert abs(measured / predicted - 1) < 0.02
  assert abs(predicted / np.sqrt(eta * 3 / (2 * batch)) - 1) > 0.05  # the discrete-time factor matters at ηλ = 0.9
