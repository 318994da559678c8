"""Error and 95%-interval coverage on synthetic spectra (n = 1000, random eigenbasis), many seeds vmapped at once.

The full table over budgets is benchmarks/spectra_table.py; here one budget (60 matvecs) and 300 fixed seeds. The
coverage of a calibrated 95% interval over 300 seeds has a standard deviation of 1.3%; the bar is 93%.

Known exception (measured, not hidden): Hutchinson on the i^-2 spectrum covers ≈ 91% at 60 probes (three sets of
400 seeds: 91.0%, 91.5%, 90.3%). One eigenvalue dominates, so zᵀAz ≈ λ₁g² is strongly right-skewed and the t
interval built from 60 samples is too short on the low side; it is tested against 88% with that reason stated.
"""
import functools

import pytest

from flatness_jax.curvature import synthetic, trace_estimate

SEEDS = 300


@functools.lru_cache(maxsize=None)
def _matrix(name):
  return synthetic.random_symmetric(synthetic.spectrum(name, 1000), seed=0)


def _study(method, name, seed, num_matvecs=60, seeds=SEEDS):
  est = functools.partial(trace_estimate, method=method, num_matvecs=num_matvecs, chunk_size=num_matvecs)
  return synthetic.coverage_study(est, _matrix(name), seeds, seed=seed)


@pytest.mark.parametrize("method", ["hutchpp", "xtrace"])
def test_low_rank_methods_on_decaying_spectrum(x64, method):
  """i^-2 at 60 matvecs: median relative error ≈ 1e-3 (the regime of Meyer et al. / Epperly et al.)."""
  r = _study(method, "i^-2", seed=1)
  assert r["median_rel_error"] < 2e-3, r
  assert r["coverage"] >= 0.93, r


@pytest.mark.slow
def test_hutchinson_coverage_indefinite(x64):
  r = _study("hutchinson", "indefinite", seed=2)
  assert r["coverage"] >= 0.93, r
  assert 0.85 < r["mean_se_over_rmse"] < 1.15, r


@pytest.mark.slow
@pytest.mark.parametrize("name", ["i^-1", "i^-0.5", "indefinite"])
@pytest.mark.parametrize("method", ["hutchinson", "hutchpp", "xtrace"])
def test_coverage_all_spectra(x64, method, name):
  r = _study(method, name, seed=3)
  assert r["coverage"] >= 0.93, r
  assert 0.7 < r["mean_se_over_rmse"] < 2.5, r


@pytest.mark.slow
def test_hutchinson_skewed_spectrum(x64):
  r = _study("hutchinson", "i^-2", seed=4)
  assert r["coverage"] >= 0.88, r


@pytest.mark.slow
def test_error_shrinks_with_budget(x64):
  """Hutchinson's error falls like 1/√m; Hutch++ and XTrace faster on a decaying spectrum."""
  for method, name, lo, hi in (("hutchinson", "indefinite", 2.5, 6.5), ("hutchpp", "i^-2", 10, 1e3),
                               ("xtrace", "i^-2", 10, 1e3)):
    errors = [_study(method, name, seed=5, num_matvecs=m, seeds=100)["median_rel_error"] for m in (30, 480)]
    assert lo < errors[0] / errors[1] < hi, (method, errors)   # 16× the budget: √16 = 4 for Hutchinson
