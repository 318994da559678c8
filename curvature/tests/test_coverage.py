"""Error and 95%-interval coverage on synthetic spectra (n = 1000, random eigenbasis), many seeds vmapped at once.

The full table over budgets is benchmarks/spectra_table.py; here one budget (60 matvecs) and fixed seeds: 300 in the
default tier, 1000 in the slow tier. The coverage of a calibrated 95% interval over 300 seeds has a standard
deviation of 1.3% (0.7% over 1000): a 94.5%-calibrated method (Hutch++ on i^-2 measures 94.8% over 500 seeds)
would fall below the 93% bar on 300 seeds about one time in eight, hence 1000 seeds for the sweep over spectra
(Hutch++ on the indefinite spectrum measured 92.3% on 300 seeds and 95.4% on 500 other ones).

Known exception (measured, not hidden): Hutchinson on the i^-2 spectrum covers 90–94% at 60 probes (four sets of
400–500 seeds: 91.0%, 91.5%, 90.3%, 94.0%). One eigenvalue dominates, so zᵀAz ≈ λ₁g² is strongly right-skewed
and the t interval built from 60 samples is too short on the low side; it is tested against 88% with that reason
stated. At 12 matvecs Hutchinson (i^-2: 88%) and Hutch++ (i^-2: 91%, 4 residual samples) undercover too: see the
table.
"""
import functools

import pytest

from flatness_curvature import synthetic, trace_estimate

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
  r = _study(method, name, seed=3, seeds=1000)
  assert r["coverage"] >= 0.93, r
  assert 0.7 < r["mean_se_over_rmse"] < 2.5, r


@pytest.mark.slow
def test_hutchinson_skewed_spectrum(x64):
  r = _study("hutchinson", "i^-2", seed=4)
  assert r["coverage"] >= 0.88, r


@pytest.mark.slow
def test_error_shrinks_with_budget(x64):
  """Hutchinson's error falls like 1/√m; Hutch++ and XTrace faster on a decaying spectrum."""
  # 8× the budget: √8 = 2.8 for Hutchinson; ≈ 60× measured for Hutch++ and XTrace on i^-2 (the table).
  for method, name, lo, hi in (("hutchinson", "indefinite", 2.0, 4.5), ("hutchpp", "i^-2", 20, 300),
                               ("xtrace", "i^-2", 20, 300)):
    errors = [_study(method, name, seed=5, num_matvecs=m, seeds=100)["median_rel_error"] for m in (30, 240)]
    assert lo < errors[0] / errors[1] < hi, (method, errors)
