"""Statistics for the report: intervals over pre-training seeds, correlations that resample whole runs.

The unit of replication is the pre-training run (one seed of initialisation, data stream and masks). Probe seeds,
estimator probes and checkpoints of one run are not independent replicates of "training this way", so:
- a difference between arms is a difference of per-seed means with a Welch interval over seeds (`welch_ci`:
  Student-t with Welch–Satterthwaite degrees of freedom ν = (s²ₐ/nₐ + s²_b/n_b)² / Σ (s²/n)²/(n − 1));
- a change within runs (continued training) is the mean of per-run changes with a one-sample t interval over runs
  (`mean_ci`);
- a correlation over checkpoints is resampled by whole runs (`cluster_bootstrap_ci`): each bootstrap draw picks
  runs with replacement and keeps each drawn run's checkpoints together. With the few runs a CPU budget allows, a
  percentile interval is too narrow, so the interval is formed on Fisher's z = atanh(r) from the bootstrap standard
  error inflated by √(G/(G−1)) with Student-t quantiles on G − 1 degrees of freedom (G runs), the usual small-
  cluster correction; tests/analysis/test_stats.py checks its false-verdict rate under a planted null;
- a single measurement (one run) gets an interval from its own noise (probe seeds, estimator probes) with t
  quantiles on the degrees of freedom that noise has (`difference_ci`), and no verdict.
Also: Pearson r and Spearman ρ (average ranks for ties), partial correlation given covariates (the reviewers'
control: accuracy vs Tr(H) with log(parameters) held fixed), and the verdict vocabulary. Every function that
resamples takes a fixed seed, so a report is reproducible to the digit.
"""
import numpy as np
from scipy import stats as sps

from flatness_jax.rundir import records


def _rows(x):
  return np.asarray(x, np.float64)


def pearson(x, y):
  """Pearson correlation over the last axis (a float for 1-D input, [B] for [B, n]); nan when either side is
  constant or there are fewer than 3 points."""
  x, y = _rows(x), _rows(y)
  if x.shape[-1] < 3:
    return np.full(x.shape[:-1], np.nan) if x.ndim > 1 else float("nan")
  xc = x - x.mean(-1, keepdims=True)
  yc = y - y.mean(-1, keepdims=True)
  den = np.sqrt((xc ** 2).sum(-1) * (yc ** 2).sum(-1))
  scale = np.maximum(np.abs(x).max(-1), np.abs(y).max(-1)) + 1e-300
  with np.errstate(invalid="ignore", divide="ignore"):
    r = np.where(den > 1e-12 * scale ** 2 * x.shape[-1], (xc * yc).sum(-1) / den, np.nan)
  return float(r) if r.ndim == 0 else r


def spearman(x, y):
  """Spearman rank correlation (Pearson on average ranks) over the last axis."""
  return pearson(sps.rankdata(x, axis=-1), sps.rankdata(y, axis=-1))


def residualize(v, covariates):
  """v minus its least-squares fit on [1, covariates] over the last axis (covariates: [..., n] or [..., n, k])."""
  v = _rows(v)
  z = _rows(covariates)
  if z.ndim == v.ndim:
    z = z[..., None]
  design = np.concatenate([np.ones(z.shape[:-1] + (1,)), z], axis=-1)
  coef = np.linalg.pinv(design) @ v[..., None]
  return v - (design @ coef)[..., 0]


def partial_correlation(x, y, covariates, method: str = "pearson"):
  """Correlation of x and y with `covariates` held fixed (residuals of both on [1, covariates])."""
  if method == "spearman":
    x, y = sps.rankdata(x, axis=-1), sps.rankdata(y, axis=-1)
    covariates = sps.rankdata(covariates, axis=-1)
  return pearson(residualize(x, covariates), residualize(y, covariates))


def t_quantile(df, level: float = 0.95):
  """Upper (1 + level)/2 quantile of Student's t with `df` degrees of freedom (normal for df = inf)."""
  return float(sps.t.ppf(0.5 + level / 2, df)) if np.isfinite(df) else float(sps.norm.ppf(0.5 + level / 2))


def welch_df(se_a, df_a, se_b, df_b) -> float:
  """Welch–Satterthwaite degrees of freedom of the difference of two estimates with SEs on df_a, df_b dof."""
  va, vb = se_a ** 2, se_b ** 2
  terms = [v ** 2 / d for v, d in ((va, df_a), (vb, df_b)) if np.isfinite(d) and d > 0 and v > 0]
  if not terms:
    return float("inf")
  return float((va + vb) ** 2 / sum(terms))


def difference_ci(mean_a, se_a, mean_b, se_b, level: float = 0.95, df_a=np.inf, df_b=np.inf):
  """(a − b, low, high) for independent estimates with standard errors on df_a / df_b degrees of freedom
  (Welch–Satterthwaite t; normal when both are infinite)."""
  d = float(mean_a - mean_b)
  se = float(np.hypot(se_a, se_b))
  q = t_quantile(welch_df(se_a, df_a, se_b, df_b), level)
  return d, d - q * se, d + q * se


def welch_ci(a, b, level: float = 0.95):
  """(mean(a) − mean(b), low, high, df) over replicates a, b (each ≥ 2 values): Welch's t interval."""
  a, b = _rows(a), _rows(b)
  if len(a) < 2 or len(b) < 2:
    raise ValueError(f"welch_ci needs at least 2 replicates per side, got {len(a)} and {len(b)}")
  se_a, se_b = a.std(ddof=1) / np.sqrt(len(a)), b.std(ddof=1) / np.sqrt(len(b))
  df = welch_df(se_a, len(a) - 1, se_b, len(b) - 1)
  if not np.isfinite(df):  # both sides without spread: the difference is exact
    df = len(a) + len(b) - 2
  d, lo, hi = difference_ci(a.mean(), se_a, b.mean(), se_b, level, len(a) - 1, len(b) - 1)
  return d, lo, hi, df


def mean_ci(x, level: float = 0.95):
  """(mean, low, high, df) of replicates x (≥ 2): the one-sample Student-t interval."""
  x = _rows(x)
  if len(x) < 2:
    raise ValueError(f"mean_ci needs at least 2 replicates, got {len(x)}")
  half = t_quantile(len(x) - 1, level) * x.std(ddof=1) / np.sqrt(len(x))
  return float(x.mean()), float(x.mean() - half), float(x.mean() + half), len(x) - 1


def bootstrap_ci(statistic, *arrays, num_boot: int = 2000, seed: int = 0, level: float = 0.95):
  """(estimate, low, high): percentile bootstrap over resampled rows, for independent rows only (not for
  checkpoints of a few runs: use `cluster_bootstrap_ci`). Resamples whose statistic is nan are dropped; the
  interval is nan if fewer than half remain."""
  arrays = [np.asarray(a) for a in arrays]
  n = len(arrays[0])
  est = float(statistic(*arrays))
  rng = np.random.default_rng(seed)
  idx = rng.integers(0, n, (num_boot, n))
  values = np.asarray(statistic(*[a[idx] for a in arrays]), np.float64).ravel()
  values = values[np.isfinite(values)]
  if len(values) < num_boot / 2:
    return est, float("nan"), float("nan")
  alpha = (1 - level) / 2
  return est, float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def _cluster_draws(clusters, num_boot, rng):
  """Index arrays of `num_boot` cluster resamples (whole clusters drawn with replacement)."""
  ids = list(dict.fromkeys(np.asarray(clusters).tolist()))
  members = [np.flatnonzero(np.asarray(clusters) == c) for c in ids]
  picks = rng.integers(0, len(ids), (num_boot, len(ids)))
  return [np.concatenate([members[j] for j in row]) for row in picks], len(ids)


def cluster_bootstrap_ci(statistic, clusters, *arrays, num_boot: int = 2000, seed: int = 0, level: float = 0.95):
  """(estimate, low, high) of a correlation-like `statistic(*arrays)` ∈ [−1, 1] resampling whole clusters.

  clusters: [n] labels (the run of each checkpoint). The interval is tanh(z ± t_{G−1} · √(G/(G−1)) · sd*(z)),
  z = atanh(estimate), sd* the standard deviation of atanh(statistic) over cluster resamples (module docstring).
  nan when there are fewer than 3 clusters or fewer than half of the resamples give a finite statistic.
  """
  arrays = [np.asarray(a, np.float64) for a in arrays]
  est = float(statistic(*arrays))
  rng = np.random.default_rng(seed)
  draws, g = _cluster_draws(clusters, num_boot, rng)
  if g < 3 or not np.isfinite(est):
    return est, float("nan"), float("nan")
  sizes = {len(d) for d in draws}
  if len(sizes) == 1:  # equal cluster sizes: one vectorised call
    idx = np.stack(draws)
    values = np.asarray(statistic(*[a[idx] for a in arrays]), np.float64)
  else:
    values = np.array([statistic(*[a[d] for a in arrays]) for d in draws], np.float64)
  values = values[np.isfinite(values)]
  if len(values) < num_boot / 2:
    return est, float("nan"), float("nan")
  clip = lambda r: np.clip(r, -1 + 1e-9, 1 - 1e-9)  # pylint: disable=unnecessary-lambda-assignment
  z, zs = np.arctanh(clip(est)), np.arctanh(clip(values))
  half = t_quantile(g - 1, level) * np.sqrt(g / (g - 1)) * zs.std(ddof=1)
  return est, float(np.tanh(z - half)), float(np.tanh(z + half))


UNTESTED = records.Verdict.untested("1 seed")


def verdict(low: float, high: float, expected_sign: int) -> records.Verdict:
  """Reproduced when the CI excludes 0 on the expected side, opposite on the other, else not significant."""
  if not (np.isfinite(low) and np.isfinite(high)):
    return records.Verdict.untested("no interval")
  if low > 0 or high < 0:
    return records.Verdict(records.REPRODUCED if (low > 0) == (expected_sign > 0) else records.OPPOSITE)
  return records.Verdict(records.NOT_SIGNIFICANT)
