"""Correlations, partial correlation and bootstrap CIs against scipy and constructed cases."""
import itertools

import numpy as np
import pytest
from scipy import stats as sps

from flatness_jax.analysis import cluster, family, power, stats


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


def test_difference_ci_is_normal_without_dof():
  d, lo, hi = stats.difference_ci(1.0, 0.1, 0.5, 0.1)  # normal: infinite dof
  assert d == pytest.approx(0.5) and (lo, hi) == (pytest.approx(0.5 - 1.959964 * np.hypot(0.1, 0.1)),
                                                  pytest.approx(0.5 + 1.959964 * np.hypot(0.1, 0.1)))


def test_tests_give_scipy_p_values_and_intervals_at_any_level():
  rng = np.random.default_rng(4)
  a, b = 0.8 + 0.02 * rng.standard_normal(3), 0.75 + 0.03 * rng.standard_normal(4)
  t = stats.welch_test(a, b)
  ref = sps.ttest_ind(a, b, equal_var=False)
  assert t.p_value == pytest.approx(ref.pvalue, rel=1e-10)
  for level in (0.9, 0.95, 0.99):
    lo, hi = ref.confidence_interval(level)
    assert t.interval(level) == (pytest.approx(lo), pytest.approx(hi))
  one = stats.one_sample_test(a - 0.8)
  ref = sps.ttest_1samp(a - 0.8, 0.0)
  assert one.p_value == pytest.approx(ref.pvalue, rel=1e-10) and one.df == 2
  # Fisher's z: the interval maps back by tanh, p from z / se.
  z = stats.TTest(0.5, 0.2, 7, fisher=True)
  assert z.interval(0.95) == (pytest.approx(np.tanh(np.arctanh(0.5) - sps.t.ppf(0.975, 7) * 0.2)),
                              pytest.approx(np.tanh(np.arctanh(0.5) + sps.t.ppf(0.975, 7) * 0.2)))
  assert z.p_value == pytest.approx(2 * sps.t.sf(np.arctanh(0.5) / 0.2, 7))


def test_replicates_without_spread_give_no_interval():
  """Three seeds per arm, each arm's accuracy identical across its seeds: no variance is estimated, so no interval
  (a zero-width one would call any difference significant)."""
  d, lo, hi, _ = stats.welch_ci([0.9, 0.9, 0.9], [0.8, 0.8, 0.8])
  assert d == pytest.approx(0.1) and np.isnan(lo) and np.isnan(hi)
  assert np.isnan(stats.welch_test([0.9, 0.9], [0.8, 0.8]).p_value)
  assert np.isnan(stats.mean_ci([0.1, 0.1, 0.1])[1])


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


def _significant(test, level=0.95):
  lo, hi = test.interval(level)
  return bool(lo > 0 or hi < 0)


def test_weighted_statistics_equal_the_statistics_of_the_repeated_sample(x64):
  rng = np.random.default_rng(5)
  x = rng.integers(0, 5, 12).astype(float)  # ties
  y = x + rng.standard_normal(12)
  z = rng.standard_normal(12)
  w = rng.integers(0, 4, 12)
  w[:3] = np.maximum(w[:3], 1)
  rep = np.repeat(np.arange(12), w)
  np.testing.assert_allclose(cluster.weighted_pearson(x, y, w), sps.pearsonr(x[rep], y[rep])[0], rtol=1e-12)
  np.testing.assert_allclose(cluster.weighted_ranks(x, w)[w > 0], sps.rankdata(x[rep])[np.cumsum(w)[w > 0] - 1])
  np.testing.assert_allclose(cluster.weighted_spearman(x, y, w), sps.spearmanr(x[rep], y[rep])[0], rtol=1e-12)
  np.testing.assert_allclose(cluster.weighted_partial(x, y, z, w),
                             stats.partial_correlation(x[rep], y[rep], z[rep]), rtol=1e-10)
  # A batch of weight vectors at once, one statistic each.
  ws = rng.integers(0, 3, (4, 12)) + 1
  np.testing.assert_allclose(cluster.weighted_spearman(x, y, ws),
                             [sps.spearmanr(x[np.repeat(np.arange(12), r)], y[np.repeat(np.arange(12), r)])[0]
                              for r in ws], rtol=1e-12)


def test_cluster_draws_keep_runs_together_and_ignore_the_order_of_the_records():
  run = np.array(["b"] * 3 + ["a"] * 2 + ["c"] * 4)
  w, g = cluster.cluster_weights(run, 50, seed=1)
  assert g == 3 and w.shape == (50, 9)
  for row in w:  # a run's points share its draw count, and the draws pick G runs
    assert len(set(row[:3])) == 1 and len(set(row[3:5])) == 1 and len(set(row[5:])) == 1
    assert row[0] + row[3] + row[5] == g
  rng = np.random.default_rng(0)
  x = rng.standard_normal(9)
  y = x + rng.standard_normal(9)
  perm = rng.permutation(9)
  a = cluster.cluster_bootstrap_test(cluster.weighted_spearman, run, x, y, num_boot=300, seed=3)
  b = cluster.cluster_bootstrap_test(cluster.weighted_spearman, run[perm], x[perm], y[perm], num_boot=300, seed=3)
  renamed = np.array([{"a": "z", "b": "y", "c": "x"}[r] for r in run])  # other names, other sorted order
  c = cluster.cluster_bootstrap_test(cluster.weighted_spearman, renamed, x, y, num_boot=300, seed=3)
  assert a.se > 0 and (a.estimate, a.se) == (pytest.approx(b.estimate, abs=1e-12), pytest.approx(b.se, abs=1e-12))
  assert (c.estimate, c.se) == (pytest.approx(a.estimate, abs=1e-12), pytest.approx(a.se, abs=1e-12))


def _planted_null(rng, runs=6, checkpoints=8):
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
    test = cluster.cluster_bootstrap_test(cluster.weighted_spearman, run, trace, acc, num_boot=300, seed=i)
    false_cluster += _significant(test)
    _, lo, hi = stats.bootstrap_ci(stats.spearman, trace, acc, num_boot=300, seed=i)  # checkpoints as units
    false_checkpoint += bool(lo > 0 or hi < 0)
  # Nominal 5% (two-sided), with a Monte Carlo allowance of 2 SE at 400 simulations.
  assert false_cluster / sims <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / sims), false_cluster / sims
  # Resampling checkpoints treats 48 points as independent: it calls an effect far more often (so this test can
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
    test = cluster.cluster_bootstrap_test(cluster.weighted_spearman, run, trace, acc, num_boot=300, seed=i)
    hits += _significant(test) and test.estimate < 0
  assert hits >= 80, hits


def test_cluster_bootstrap_needs_three_runs_and_handles_unequal_runs():
  run = np.array([0, 0, 1, 1])
  assert not cluster.cluster_bootstrap_test(cluster.weighted_spearman, run, [1, 2, 3, 4], [1, 2, 3, 4]).valid
  rng = np.random.default_rng(0)
  run = np.array([0] * 5 + [1] * 3 + [2] * 4 + [3] * 6)
  x = rng.standard_normal(18)
  test = cluster.cluster_bootstrap_test(cluster.weighted_pearson, run, x, 2 * x + 0.1 * rng.standard_normal(18))
  lo, hi = test.interval()
  assert lo < test.estimate < hi and lo > 0.5


def _closed_bonferroni(p, alpha):
  """Which hypotheses closed testing with Bonferroni local tests rejects (brute force over every subset)."""
  m = len(p)
  out = []
  for i in range(m):
    subsets = [s for s in itertools.product([0, 1], repeat=m) if s[i]]
    out.append(all(min(p[j] for j in range(m) if s[j]) <= alpha / sum(s) for s in subsets))
  return out


def test_holm_is_closed_testing_of_bonferroni():
  rng = np.random.default_rng(8)
  for _ in range(200):
    m = rng.integers(1, 6)
    p = rng.uniform(0, 0.06, m) ** rng.uniform(0.5, 2)
    adjusted = family.holm(p)
    assert [bool(a <= 0.05) for a in adjusted] == _closed_bonferroni(p, 0.05)
    assert np.all(adjusted >= p - 1e-15) and np.all(adjusted <= np.minimum(1, m * p) + 1e-15)
  assert family.holm([0.01, np.nan])[1] == 1.0  # untested rows count, with p = 1


def _exact_power(sd, effect, alpha, n):
  df, nc = 2 * n - 2, effect / (sd * np.sqrt(2 / n))
  q = sps.t.ppf(1 - alpha / 2, df)
  return sps.nct.sf(q, df, nc) + sps.nct.cdf(-q, df, nc)


@pytest.mark.parametrize("sd,effect,alpha", [(1.0, 1.0, 0.05), (1.0, 0.5, 0.0125), (2.0, 6.9, 0.0125),
                                             (1.5, 4.5, 0.05 / 3), (0.3, 2.0, 0.01)])
def test_runs_needed_against_the_exact_noncentral_t_power(sd, effect, alpha):
  n = power.runs_needed(sd, effect, alpha)
  exact = next(k for k in range(2, 10_000) if _exact_power(sd, effect, alpha, k) >= 0.8)
  assert abs(n - exact) <= 1, (n, exact)
  # The detectable effect of that design is the effect it was sized for (or smaller).
  test = stats.TTest(0.0, sd * np.sqrt(2 / n), 2 * n - 2)
  assert power.detectable_effect(test, alpha) <= abs(effect) + 1e-9
  assert power.runs_needed(0.0, effect, alpha) is None and power.runs_needed(sd, 1e-9, alpha) is None


def test_residualize_fits_an_intercept_against_least_squares(x64):
  """Residuals on [1, z] by lstsq; the covariate is far from mean zero (as log(parameters) is)."""
  rng = np.random.default_rng(11)
  z = np.log(rng.uniform(1e5, 1e7, (20, 2)))
  v = 3.0 + z @ [0.5, -0.2] + rng.standard_normal(20)
  design = np.column_stack([np.ones(20), z])
  expected = v - design @ np.linalg.lstsq(design, v, rcond=None)[0]
  np.testing.assert_allclose(stats.residualize(v, z), expected, atol=1e-10)
  np.testing.assert_allclose(stats.residualize(v, z[:, 0]), v - design[:, :2] @ np.linalg.lstsq(
      design[:, :2], v, rcond=None)[0], atol=1e-10)


def test_spearman_partial_correlation_ranks_x_y_and_the_covariate():
  """Pearson on the residuals of the ranks of x and y on [1, ranks of z]; z is skewed (exp), so its ranks are not
  a linear function of its values and a rank-free covariate gives another number."""
  rng = np.random.default_rng(12)
  z = np.exp(2 * rng.standard_normal(25))
  x, y = z + rng.standard_normal(25), np.sqrt(z) + rng.standard_normal(25)
  rx, ry, rz = (sps.rankdata(a) for a in (x, y, z))
  design = np.column_stack([np.ones(25), rz])
  res = [a - design @ np.linalg.lstsq(design, a, rcond=None)[0] for a in (rx, ry)]
  expected = sps.pearsonr(*res)[0]
  assert stats.partial_correlation(x, y, z, method="spearman") == pytest.approx(expected, abs=1e-12)
  assert abs(stats.pearson(rx, ry) - expected) > 0.05  # holding the covariate fixed changes the number


def test_cluster_bootstrap_se_is_the_inflated_sd_of_fishers_z_over_whole_run_draws():
  """Brute force: each draw's statistic from the concatenated points of the drawn runs; SE = √(G/(G−1)) · sd(z*)
  and the interval tanh(z ± t_{G−1} SE). The runs' labels are in the order of their data, so the draws without
  keys are the test's own."""
  rng = np.random.default_rng(13)
  run = np.repeat(list("abcd"), [3, 4, 2, 5])
  x = np.sort(rng.standard_normal(14)) + 3 * np.repeat(np.arange(4), [3, 4, 2, 5])  # run a lowest, then b, c, d
  y = 0.3 * x + rng.standard_normal(14)
  test = cluster.cluster_bootstrap_test(cluster.weighted_spearman, run, x, y, num_boot=200, seed=4)
  w, g = cluster.cluster_weights(run, 200, seed=4)
  draws = []
  for row in w.astype(int):
    rep = np.repeat(np.arange(14), row)
    draws.append(sps.spearmanr(x[rep], y[rep])[0])
  draws = np.asarray(draws)
  draws = draws[np.isfinite(draws)]
  sd = np.arctanh(np.clip(draws, -1 + 1e-9, 1 - 1e-9)).std(ddof=1)
  assert g == 4 and test.df == 3
  assert test.estimate == pytest.approx(sps.spearmanr(x, y)[0], abs=1e-12)
  assert test.se == pytest.approx(np.sqrt(4 / 3) * sd, rel=1e-9)
  half = sps.t.ppf(0.975, 3) * test.se
  assert test.interval() == (pytest.approx(np.tanh(np.arctanh(test.estimate) - half)),
                             pytest.approx(np.tanh(np.arctanh(test.estimate) + half)))


@pytest.mark.parametrize("two_arms", [True, False])
@pytest.mark.parametrize("sd,effect,alpha", [(1.0, 3.0, 0.05), (1.0, 1.5, 0.01), (0.5, 0.4, 0.05 / 3),
                                             (1.0, 1.0, 0.05), (1.0, 2.5, 0.05)])
def test_runs_needed_is_the_first_n_whose_detectable_effect_is_small_enough(sd, effect, alpha, two_arms):
  """Linear scan with scipy's t quantiles: two arms se = sd·√(2/n) on 2n − 2 dof, one sample sd/√n on n − 1."""
  def bound(n):
    df, se = (2 * n - 2, sd * np.sqrt(2 / n)) if two_arms else (n - 1, sd / np.sqrt(n))
    return (sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(0.8, df)) * se
  n = power.runs_needed(sd, effect, alpha, two_arms=two_arms)
  assert n == next(k for k in range(2, 10_000) if bound(k) <= effect)
  df = 2 * n - 2 if two_arms else n - 1
  se = sd * np.sqrt(2 / n) if two_arms else sd / np.sqrt(n)
  assert power.detectable_effect(stats.TTest(0.0, se, df), alpha) == pytest.approx(bound(n), rel=1e-9)
  assert power.detectable_effect(stats.TTest(0.3, 0.1, df, fisher=True), alpha) == pytest.approx(
      np.tanh((sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(0.8, df)) * 0.1), rel=1e-9)


def test_arm_comparisons_are_welch_over_seeds_or_paired_over_the_seeds_both_arms_have():
  from flatness_jax.analysis import replicates  # pylint: disable=g-import-not-at-top
  a, b = [0.81, 0.84, 0.80, float("nan"), 0.86], [0.78, 0.80, 0.77]
  c = replicates.compare_values(a, b)
  fa, fb = np.array([0.81, 0.84, 0.80, 0.86]), np.array(b)
  assert (c.n_a, c.n_b, c.two_arms) == (4, 3, True)
  assert c.estimate == pytest.approx(fa.mean() - fb.mean())
  assert c.test.p_value == pytest.approx(sps.ttest_ind(fa, fb, equal_var=False).pvalue, rel=1e-9)
  assert c.sd == pytest.approx(np.sqrt((fa.var(ddof=1) + fb.var(ddof=1)) / 2))
  assert replicates.compare_values([0.8], b) is None
  one = replicates.compare_values([0.8], b, single=(0.02, -0.01, 0.05))
  assert one.test is None and one.estimate == 0.02 and one.single == (-0.01, 0.05)
  p = replicates.compare_paired({0: 0.81, 1: 0.84, 2: 0.80, 7: 0.9}, {0: 0.78, 1: 0.80, 2: 0.77, 3: 0.5})
  d = np.array([0.03, 0.04, 0.03])
  assert (p.n_a, p.n_b, p.two_arms, p.paired) == (3, 0, False, True)
  assert p.estimate == pytest.approx(d.mean()) and p.sd == pytest.approx(d.std(ddof=1))
  assert p.test.p_value == pytest.approx(sps.ttest_1samp(d, 0.0).pvalue, rel=1e-9)
  assert replicates.compare_paired({0: 1.0, 1: 2.0}, {1: 1.0, 2: 0.0}) is None  # one common seed


def test_a_perfect_correlation_keeps_a_finite_fisher_z_interval():
  """r = ±1 is clipped inside (−1, 1) before atanh: the test stays valid, with p ≈ 0."""
  for r in (-1.0, 1.0):
    t = stats.TTest(r, 0.1, 5, fisher=True)
    lo, hi = t.interval()
    assert t.valid and np.isfinite(lo) and np.isfinite(hi) and t.p_value < 1e-6


def test_bootstrap_draws_every_row_and_needs_half_of_the_draws_finite():
  x = np.arange(10.0)
  _, _, hi = stats.bootstrap_ci(lambda a: a.max(-1), x[::-1], num_boot=400, seed=1)
  assert hi == 9.0  # row 0 (the maximum) is drawn
  def first_small(a):  # finite for ≈ 40% of the resamples (those whose first draw is below 4)
    return np.where(a[..., 0] < 4, a.mean(-1), np.nan)
  est, lo, hi = stats.bootstrap_ci(first_small, x, num_boot=2000, seed=2)
  assert est == 4.5 and np.isnan(lo) and np.isnan(hi)


def test_spearman_partial_correlation_with_several_covariates_ranks_each_over_the_points():
  rng = np.random.default_rng(0)
  z = rng.normal(size=(40, 2)) ** 3
  x, y = z @ [1.0, -0.5] + rng.normal(size=40), np.exp(z[:, 0]) + rng.normal(size=40)
  ranked = np.stack([sps.rankdata(z[:, 0]), sps.rankdata(z[:, 1])], axis=1)
  expected = stats.partial_correlation(sps.rankdata(x), sps.rankdata(y), ranked)
  assert stats.partial_correlation(x, y, z, method="spearman") == pytest.approx(expected, abs=1e-12)


def test_within_run_change_of_one_run_is_its_own_measurement_and_of_several_a_t_interval():
  from flatness_jax.analysis import replicates  # pylint: disable=g-import-not-at-top
  value = lambda p: p  # points stand for their values here
  one = replicates.Arm("a", ["r0"], [])
  single = lambda last, first: (last - first, last - first - 0.5, last - first + 0.5)
  c = replicates.within_run_change(one, value, {"r0": (1.0, 3.0)}, single)
  assert c is not None and c.test is None and (c.estimate, c.n_a, c.single) == (2.0, 1, (1.5, 2.5))
  assert replicates.within_run_change(one, value, {"r0": (1.0, 3.0)}) is None  # no single measurement given
  two = replicates.Arm("a", ["r0", "r1"], [])
  c = replicates.within_run_change(two, value, {"r0": (1.0, 3.0), "r1": (0.0, 4.0)}, single)
  assert c.tested and c.estimate == pytest.approx(3.0) and c.n_a == 2
