"""Correlations, partial correlation and bootstrap CIs against scipy and constructed cases."""
import numpy as np
import pytest
from scipy import stats as sps

from flatness_jax.analysis import stats
from flatness_jax.rundir import records


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
  d, lo, hi = stats.difference_ci(1.0, 0.1, 0.5, 0.1)  # normal: infinite dof
  assert d == pytest.approx(0.5) and lo > 0
  assert str(stats.verdict(lo, hi, +1)) == "reproduced"
  assert str(stats.verdict(lo, hi, -1)) == "opposite"
  assert str(stats.verdict(-0.1, 0.2, +1)) == "not significant at this scale"


def test_difference_intervals_use_t_quantiles():
  """2 × 5 replicates: the Welch interval is d ± t_{ν,0.975} √(s²ₐ/5 + s²_b/5) with Satterthwaite ν (not 1.96)."""
  a = np.array([0.81, 0.84, 0.80, 0.86, 0.83])
  b = np.array([0.78, 0.80, 0.77, 0.81, 0.79])
  d, lo, hi, df = stats.welch_ci(a, b)
  va, vb = a.var(ddof=1) / 5, b.var(ddof=1) / 5
  nu = (va + vb) ** 2 / (va ** 2 / 4 + vb ** 2 / 4)
  half = sps.t.ppf(0.975, nu) * np.sqrt(va + vb)
  assert df == pytest.approx(nu) and 4 < df < 8
  assert d == pytest.approx(a.mean() - b.mean())
  assert (lo, hi) == (pytest.approx(d - half), pytest.approx(d + half))
  assert hi - lo > 2 * 1.96 * np.sqrt(va + vb) * 1.1  # wider than the normal interval
  res = sps.ttest_ind(a, b, equal_var=False).confidence_interval()  # scipy's Welch interval
  assert (lo, hi) == (pytest.approx(res.low), pytest.approx(res.high))
  m, mlo, mhi, mdf = stats.mean_ci(a - b)
  assert mdf == 4 and mhi - m == pytest.approx(sps.t.ppf(0.975, 4) * (a - b).std(ddof=1) / np.sqrt(5))
  with pytest.raises(ValueError, match="at least 2 replicates"):
    stats.welch_ci(a[:1], b)


def _planted_null(rng, runs=4, checkpoints=8):
  """Runs with random run-level effects on Tr(H) and on accuracy, unrelated to each other; within a run the trace
  drifts down over checkpoints (as after convergence) and both carry small checkpoint noise."""
  u, v = rng.standard_normal(runs), rng.standard_normal(runs)
  run = np.repeat(np.arange(runs), checkpoints)
  step = np.tile(np.arange(checkpoints), runs)
  trace = u[run] - 0.05 * step + 0.3 * rng.standard_normal(runs * checkpoints)
  acc = v[run] + 0.3 * rng.standard_normal(runs * checkpoints)
  return run, trace, acc


def test_cluster_bootstrap_holds_the_false_verdict_rate_under_a_planted_null():
  rng = np.random.default_rng(2024)
  sims, false_cluster, false_checkpoint = 400, 0, 0
  for i in range(sims):
    run, trace, acc = _planted_null(rng)
    _, lo, hi = stats.cluster_bootstrap_ci(stats.spearman, run, trace, acc, num_boot=500, seed=i)
    false_cluster += stats.verdict(lo, hi, -1).kind in (records.REPRODUCED, records.OPPOSITE)
    _, lo, hi = stats.bootstrap_ci(stats.spearman, trace, acc, num_boot=500, seed=i)  # checkpoints as units
    false_checkpoint += stats.verdict(lo, hi, -1).kind in (records.REPRODUCED, records.OPPOSITE)
  # Nominal 5% (two-sided), with a Monte Carlo allowance of 2 SE at 400 simulations.
  assert false_cluster / sims <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / sims), false_cluster / sims
  # Resampling checkpoints treats 32 points as independent: it calls an effect far more often (so this test can
  # fail: the same check on it would).
  assert false_checkpoint / sims > 0.2, false_checkpoint / sims


def test_cluster_bootstrap_finds_a_real_run_level_relation():
  rng = np.random.default_rng(7)
  hits = 0
  for i in range(100):
    u = rng.standard_normal(8)
    run = np.repeat(np.arange(8), 4)
    trace = u[run] + 0.3 * rng.standard_normal(32)
    acc = -2 * u[run] + 0.3 * rng.standard_normal(32)  # flatter runs are better
    _, lo, hi = stats.cluster_bootstrap_ci(stats.spearman, run, trace, acc, num_boot=500, seed=i)
    hits += stats.verdict(lo, hi, -1).kind == records.REPRODUCED
  assert hits >= 80, hits


def test_cluster_bootstrap_needs_three_runs_and_handles_unequal_runs():
  run = np.array([0, 0, 1, 1])
  assert np.isnan(stats.cluster_bootstrap_ci(stats.spearman, run, [1, 2, 3, 4], [1, 2, 3, 4])[1])
  rng = np.random.default_rng(0)
  run = np.array([0] * 5 + [1] * 3 + [2] * 4 + [3] * 6)
  x = rng.standard_normal(18)
  est, lo, hi = stats.cluster_bootstrap_ci(stats.pearson, run, x, 2 * x + 0.1 * rng.standard_normal(18))
  assert lo < est < hi and lo > 0.5
