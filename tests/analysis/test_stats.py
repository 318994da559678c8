"""Correlations, partial correlation and bootstrap CIs against scipy and constructed cases."""
import numpy as np
import pytest
from scipy import stats as sps

from flatness_jax.analysis import stats


def test_pearson_spearman_match_scipy():
  rng = np.random.default_rng(0)
  x = rng.normal(size=50)
  y = x ** 3 + rng.normal(size=50)
  np.testing.assert_allclose(stats.pearson(x, y), sps.pearsonr(x, y)[0], rtol=1e-12)
  np.testing.assert_allclose(stats.spearman(x, y), sps.spearmanr(x, y)[0], rtol=1e-12)


def test_partial_correlation_removes_a_confounder():
  # x and y both driven by z (e.g. accuracy and flatness both driven by size), independent given z.
  rng = np.random.default_rng(1)
  z = rng.normal(size=4000)
  x = 2 * z + rng.normal(size=4000)
  y = -3 * z + rng.normal(size=4000)
  assert stats.pearson(x, y) < -0.8
  assert abs(stats.partial_correlation(x, y, z)) < 0.05
  # ... and keeps a real conditional relation.
  y2 = y + x
  assert stats.partial_correlation(x, y2, z) > 0.5


def test_bootstrap_is_deterministic_and_covers():
  rng = np.random.default_rng(2)
  x = rng.normal(size=200)
  y = 0.5 * x + rng.normal(size=200)
  a = stats.bootstrap_ci(stats.pearson, x, y, num_boot=500, seed=3)
  b = stats.bootstrap_ci(stats.pearson, x, y, num_boot=500, seed=3)
  assert a == b
  est, lo, hi = a
  assert lo < est < hi
  true_r = 0.5 / np.sqrt(1.25)
  assert lo < true_r < hi


def test_difference_ci_and_verdict():
  d, lo, hi = stats.difference_ci(1.0, 0.1, 0.5, 0.1)
  assert d == pytest.approx(0.5) and lo > 0
  assert stats.verdict(lo, hi, +1) == "reproduced"
  assert stats.verdict(lo, hi, -1) == "opposite"
  assert stats.verdict(-0.1, 0.2, +1) == "not significant at this scale"
