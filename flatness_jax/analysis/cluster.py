"""Correlations over checkpoints, resampling whole runs (clusters): the cluster bootstrap as a t test on Fisher's z.

Checkpoints of one run are not independent: a bootstrap draw picks G clusters (runs, or seed blocks when arms share
their seeds) with replacement and keeps each drawn cluster's checkpoints together. A draw is a multiset of clusters,
so the statistic of the concatenated resample equals the statistic with integer weights w_i (how often point i's
cluster was drawn): the weighted Pearson r of (x, y) with weights w is Pearson's r of the data with point i repeated
w_i times, and weighted average ranks (rank_i = Σ_{x_j < x_i} w_j + (Σ_{x_j = x_i} w_j + 1)/2) are the average
ranks of the repeated data. All draws are therefore one [B, n] array of weights, whatever the cluster sizes.

The interval is tanh(z ± t_{G−1} · √(G/(G−1)) · sd*(z)), z = atanh(estimate), sd* the standard deviation of
atanh(statistic) over the draws: with the few runs a CPU budget allows a percentile interval is too narrow, and the
√(G/(G−1)) inflation with Student-t quantiles on G − 1 degrees of freedom is the usual small-cluster correction.
It is returned as a stats.TTest (fisher=True), so its p-value and its interval at any level agree.

Order invariance: clusters are put in a canonical order before drawing, by their data (the sorted values of their
points), and the draws come from one fixed seed per report, so the same records give the same interval whatever
the order of their run directories or the names of their runs and arms.
"""
import numpy as np

from flatness_jax.analysis import stats


def weighted_pearson(x, y, w):
  """Pearson r of x, y ([..., n]) with nonnegative weights w ([..., n]): that of the data with point i repeated
  w_i times; nan when a side has no weighted spread."""
  x, y, w = (np.asarray(a, np.float64) for a in (x, y, w))
  total = w.sum(-1, keepdims=True)
  xc = x - (w * x).sum(-1, keepdims=True) / total
  yc = y - (w * y).sum(-1, keepdims=True) / total
  sxx, syy, sxy = (w * xc * xc).sum(-1), (w * yc * yc).sum(-1), (w * xc * yc).sum(-1)
  scale = np.maximum(np.abs(x).max(-1), np.abs(y).max(-1)) ** 2 + 1e-300
  ok = (sxx > 1e-12 * scale * total[..., 0]) & (syy > 1e-12 * scale * total[..., 0])
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(ok, sxy / np.sqrt(sxx * syy), np.nan)


def weighted_ranks(x, w):
  """Average ranks of x ([n]) in the sample where point i appears w_i times (w: [..., n]); ties share a rank."""
  values, inverse = np.unique(np.asarray(x, np.float64), return_inverse=True)
  onehot = np.zeros((len(x), len(values)))
  onehot[np.arange(len(x)), inverse] = 1.0
  per_value = np.asarray(w, np.float64) @ onehot            # [..., U]: weight of each distinct value
  below = np.cumsum(per_value, -1) - per_value
  return (below + (per_value + 1) / 2)[..., inverse]


def weighted_spearman(x, y, w):
  """Spearman ρ of the weighted (repeated) sample: weighted Pearson of the weighted average ranks."""
  return weighted_pearson(weighted_ranks(x, w), weighted_ranks(y, w), w)


def weighted_partial(x, y, z, w):
  """Partial Pearson r of x and y given one covariate z, on the weighted sample:
  (r_xy − r_xz r_yz) / √((1 − r_xz²)(1 − r_yz²))."""
  rxy, rxz, ryz = weighted_pearson(x, y, w), weighted_pearson(x, z, w), weighted_pearson(y, z, w)
  with np.errstate(invalid="ignore", divide="ignore"):
    return (rxy - rxz * ryz) / np.sqrt((1 - rxz ** 2) * (1 - ryz ** 2))


def cluster_weights(clusters, num_boot: int, seed: int, keys=None):
  """[num_boot, n] weights of cluster-bootstrap draws, and the number of clusters G. Clusters are ordered by
  keys[label] (default: the label) before drawing."""
  labels = [str(c) for c in clusters]
  order = sorted(set(labels), key=(lambda c: (keys[c], c)) if keys else None)
  index = np.array([order.index(c) for c in labels])
  rng = np.random.default_rng(seed)
  picks = rng.integers(0, len(order), (num_boot, len(order)))
  counts = np.zeros((num_boot, len(order)))
  np.add.at(counts, (np.arange(num_boot)[:, None], picks), 1.0)
  return counts[:, index], len(order)


def cluster_bootstrap_test(statistic, clusters, *arrays, num_boot: int = 2000, seed: int = 0):
  """stats.TTest (Fisher's z, G − 1 dof) of a weighted correlation `statistic(*arrays, w)` resampling whole
  clusters (module docstring); its SE is nan (no interval) with fewer than 3 clusters, a non-finite estimate, or
  fewer than half of the draws finite."""
  arrays = [np.asarray(a, np.float64) for a in arrays]
  est = float(statistic(*arrays, np.ones(len(arrays[0]))))
  labels = np.array([str(c) for c in clusters])
  keys = {c: tuple(sorted(zip(*(a[labels == c].tolist() for a in arrays)))) for c in set(labels.tolist())}
  weights, g = cluster_weights(labels, num_boot, seed, keys)
  if g < 3 or not np.isfinite(est):
    return stats.TTest(est, float("nan"), max(g - 1, 1), fisher=True)
  values = np.asarray(statistic(*arrays, weights), np.float64)
  values = values[np.isfinite(values)]
  if len(values) < num_boot / 2:
    return stats.TTest(est, float("nan"), g - 1, fisher=True)
  sd = float(np.arctanh(np.clip(values, -1 + 1e-9, 1 - 1e-9)).std(ddof=1))
  return stats.TTest(est, float(np.sqrt(g / (g - 1)) * sd), g - 1, fisher=True)
