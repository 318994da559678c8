"""Statistics for the report: correlations with bootstrap confidence intervals and partial correlation.

- Pearson r and Spearman ρ (Pearson on ranks, average ranks for ties).
- Percentile bootstrap 95% CIs (Efron & Tibshirani 1993): resample the units (checkpoints, runs) with replacement
  `num_boot` times with a fixed seed, so a report is reproducible to the digit.
- Partial correlation of x and y given covariates z: the Pearson correlation of the residuals of x and y after
  least-squares regression on [1, z] — the reviewers' control, accuracy vs Tr(H) with log(parameters) held fixed.
- Mean ± SE / std summaries and a paired-difference CI (normal approximation) for matched checkpoints.
"""
import numpy as np
from scipy import stats as sps


def pearson(x, y) -> float:
  """Pearson correlation; nan when either side is constant or there are fewer than 3 points."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
    return float("nan")
  return float(np.corrcoef(x, y)[0, 1])


def spearman(x, y) -> float:
  """Spearman rank correlation (Pearson on average ranks)."""
  return pearson(sps.rankdata(x), sps.rankdata(y))


def residualize(v, covariates):
  """v minus its least-squares fit on [1, covariates] (covariates: [n] or [n, k])."""
  v = np.asarray(v, np.float64)
  z = np.asarray(covariates, np.float64).reshape(len(v), -1)
  design = np.concatenate([np.ones((len(v), 1)), z], axis=1)
  coef, *_ = np.linalg.lstsq(design, v, rcond=None)
  return v - design @ coef


def partial_correlation(x, y, covariates, method: str = "pearson") -> float:
  """Correlation of x and y with `covariates` held fixed (residuals of both on [1, covariates])."""
  if method == "spearman":
    x, y = sps.rankdata(x), sps.rankdata(y)
    covariates = np.apply_along_axis(sps.rankdata, 0, np.asarray(covariates, np.float64).reshape(len(x), -1))
  return pearson(residualize(x, covariates), residualize(y, covariates))


def bootstrap_ci(statistic, *arrays, num_boot: int = 2000, seed: int = 0, level: float = 0.95):
  """(estimate, low, high): `statistic(*arrays)` and its percentile-bootstrap interval over resampled rows.

  Resamples whose statistic is nan (e.g. a constant resample) are dropped; the interval is nan if fewer than
  half remain.
  """
  arrays = [np.asarray(a) for a in arrays]
  n = len(arrays[0])
  est = float(statistic(*arrays))
  rng = np.random.default_rng(seed)
  values = []
  for _ in range(num_boot):
    idx = rng.integers(0, n, n)
    values.append(statistic(*[a[idx] for a in arrays]))
  values = np.asarray(values, np.float64)
  values = values[np.isfinite(values)]
  if len(values) < num_boot / 2:
    return est, float("nan"), float("nan")
  alpha = (1 - level) / 2
  return est, float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def mean_se(x):
  """(mean, standard error of the mean)."""
  x = np.asarray(x, np.float64)
  return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def mean_std(x):
  """(mean, sample standard deviation): the paper's 'accuracy ± std over seeds'."""
  x = np.asarray(x, np.float64)
  return float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else float("nan")


def difference_ci(mean_a, se_a, mean_b, se_b, level: float = 0.95):
  """(difference a − b, low, high) for independent estimates with standard errors (normal approximation)."""
  z = sps.norm.ppf(0.5 + level / 2)
  d = mean_a - mean_b
  se = float(np.hypot(se_a, se_b))
  return float(d), float(d - z * se), float(d + z * se)


def verdict(low: float, high: float, expected_sign: int) -> str:
  """'reproduced' when the CI excludes 0 on the expected side, 'opposite' on the other, else 'not significant'."""
  if not (np.isfinite(low) and np.isfinite(high)):
    return "not enough data"
  if low > 0 or high < 0:
    return "reproduced" if (low > 0) == (expected_sign > 0) else "opposite"
  return "not significant at this scale"
