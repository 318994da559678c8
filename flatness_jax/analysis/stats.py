"""Statistics for the report: tests and intervals over pre-training runs, correlations and partial correlations.

The unit of replication is the pre-training run (one seed of initialisation, data stream and masks). Probe seeds,
estimator probes and checkpoints of one run are not independent replicates of "training this way", so:
- a difference between arms is a difference of per-seed means, Welch's t over seeds (`welch_test`: SE
  √(s²ₐ/nₐ + s²_b/n_b), Satterthwaite ν = (s²ₐ/nₐ + s²_b/n_b)² / Σ (s²/n)²/(n − 1));
- a change within runs (continued training), or a difference paired by seed, is a one-sample t over runs
  (`one_sample_test`);
- a correlation over checkpoints resamples whole runs (flatness_jax.analysis.cluster);
- a single measurement (one run) gets an interval from its own noise (probe seeds, estimator probes) with t
  quantiles on the degrees of freedom that noise has (`difference_ci`), and no verdict.
Every test is a `TTest`: estimate, SE and degrees of freedom, from which come its two-sided p and its interval at
any level (the report's family-wise correction picks the level, flatness_jax.analysis.family). Replicates without
any spread estimate no variance: their test has no interval rather than a zero-width one.
Also: Pearson r and Spearman ρ (average ranks for ties) and the partial correlation given covariates (the
reviewers' control: accuracy vs Tr(H) with log(parameters) held fixed).
"""
import dataclasses
import functools

import numpy as np
from scipy import stats as sps


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
  if method == "spearman":  # ranks over the points: the last axis of x and y, the points axis of the covariates
    x, y = sps.rankdata(x, axis=-1), sps.rankdata(y, axis=-1)
    covariates = np.asarray(covariates, dtype=float)
    covariates = sps.rankdata(covariates, axis=-2 if covariates.ndim > np.ndim(x) else -1)
  return pearson(residualize(x, covariates), residualize(y, covariates))


def t_quantile(df, level: float = 0.95):
  """Upper (1 + level)/2 quantile of Student's t with `df` degrees of freedom (normal for df = inf)."""
  return _t_quantile(float(df), float(level))


@functools.lru_cache(maxsize=4096)
def _t_quantile(df: float, level: float) -> float:
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


def _clip(r):
  return np.clip(r, -1 + 1e-9, 1 - 1e-9)


@dataclasses.dataclass(frozen=True)
class TTest:
  """A two-sided Student-t test of "no effect" and its intervals: the statistic (center − 0)/se on `df` degrees of
  freedom. For a correlation (`fisher`), center = atanh(estimate) (Fisher's z) and the interval is mapped back by
  tanh. Invalid (no interval, p = nan) when se is not a positive finite number: e.g. replicates without spread,
  which estimate no variance at all."""
  estimate: float
  se: float
  df: float
  fisher: bool = False

  @property
  def center(self) -> float:
    return float(np.arctanh(_clip(self.estimate))) if self.fisher else float(self.estimate)

  @property
  def valid(self) -> bool:
    return bool(np.isfinite(self.center) and np.isfinite(self.se) and self.se > 0 and self.df > 0)

  def interval(self, level: float = 0.95) -> tuple[float, float]:
    """(low, high) at confidence `level` (on the estimate's scale), or (nan, nan) when invalid."""
    if not self.valid:
      return float("nan"), float("nan")
    half = t_quantile(self.df, level) * self.se
    lo, hi = self.center - half, self.center + half
    return (float(np.tanh(lo)), float(np.tanh(hi))) if self.fisher else (float(lo), float(hi))

  @property
  def p_value(self) -> float:
    """Two-sided p of "no effect" (nan when invalid)."""
    if not self.valid:
      return float("nan")
    t = abs(self.center) / self.se
    return float(2 * (sps.t.sf(t, self.df) if np.isfinite(self.df) else sps.norm.sf(t)))


def _sd(x) -> float:
  """Sample SD of replicates, 0 when they differ only by rounding (no spread to estimate a variance from)."""
  sd = float(x.std(ddof=1))
  return 0.0 if sd <= 1e-12 * max(float(np.abs(x).max()), 1e-300) else sd


def welch_test(a, b) -> TTest:
  """mean(a) − mean(b) over replicates (each ≥ 2 values): Welch's t (SE √(s²ₐ/nₐ + s²_b/n_b), Satterthwaite ν)."""
  a, b = _rows(a), _rows(b)
  if len(a) < 2 or len(b) < 2:
    raise ValueError(f"welch_ci needs at least 2 replicates per side, got {len(a)} and {len(b)}")
  se_a, se_b = _sd(a) / np.sqrt(len(a)), _sd(b) / np.sqrt(len(b))
  df = welch_df(se_a, len(a) - 1, se_b, len(b) - 1)
  if not np.isfinite(df):  # neither side varies: no variance is estimated, so there is no interval
    df = len(a) + len(b) - 2
  return TTest(float(a.mean() - b.mean()), float(np.hypot(se_a, se_b)), df)


def one_sample_test(x) -> TTest:
  """mean(x) over replicates (≥ 2 values): the one-sample t (SE s/√n, n − 1 dof)."""
  x = _rows(x)
  if len(x) < 2:
    raise ValueError(f"mean_ci needs at least 2 replicates, got {len(x)}")
  return TTest(float(x.mean()), _sd(x) / np.sqrt(len(x)), len(x) - 1)


def welch_ci(a, b, level: float = 0.95):
  """(mean(a) − mean(b), low, high, df): Welch's t interval (nan bounds when neither side varies)."""
  t = welch_test(a, b)
  return (t.estimate, *t.interval(level), t.df)


def mean_ci(x, level: float = 0.95):
  """(mean, low, high, df) of replicates x (≥ 2): the one-sample Student-t interval (nan bounds without spread)."""
  t = one_sample_test(x)
  return (t.estimate, *t.interval(level), t.df)


def bootstrap_ci(statistic, *arrays, num_boot: int = 2000, seed: int = 0, level: float = 0.95):
  """(estimate, low, high): percentile bootstrap over resampled rows, for independent rows only (not for
  checkpoints of a few runs: flatness_jax.analysis.cluster resamples whole runs). Resamples whose statistic is nan
  are dropped; the interval is nan if fewer than half remain."""
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
