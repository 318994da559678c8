"""The result type of every trace estimator, and the small statistics they share.

`TraceEstimate(value, stderr, num_matvecs, dof)`: the estimate, its estimated standard error, the number of operator
applications spent (for `fisher_trace`: per-example gradients), and the degrees of freedom of the standard error.
`ci95` is the Student-t interval value ± t_{0.975, dof} · stderr (normal when dof is large). The t quantile uses the
Cornish–Fisher expansion (Abramowitz & Stegun 26.7.5), accurate to < 1e-3 for dof ≥ 3, so it also works on traced
dof (adaptive estimators stop at a data-dependent sample count).

Running moments are merged chunk by chunk with Chan, Golub & LeVeque's (1979) parallel update, stable in float32.
"""
from typing import Any, NamedTuple

import jax.numpy as jnp

_Z975 = 1.959963984540054


def t_quantile_975(dof):
  """Upper 97.5% quantile of Student's t with `dof` degrees of freedom (array-valued, traceable)."""
  z = _Z975
  g = jnp.asarray(dof, jnp.result_type(float))
  return (z + (z ** 3 + z) / (4 * g) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * g ** 2)
          + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * g ** 3)
          + (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / (92160 * g ** 4))


class TraceEstimate(NamedTuple):
  """A stochastic trace estimate with its error bar (a pytree: vmap/jit return stacked estimates)."""
  value: Any
  stderr: Any
  num_matvecs: Any
  dof: Any

  @property
  def ci95(self):
    """(low, high): the 95% Student-t confidence interval."""
    half = t_quantile_975(self.dof) * self.stderr
    return self.value - half, self.value + half

  @property
  def rel_stderr(self):
    return self.stderr / jnp.abs(self.value)


class Moments(NamedTuple):
  """Count, mean and sum of squared deviations (M2) of a stream of samples."""
  count: Any
  mean: Any
  m2: Any

  @classmethod
  def of(cls, x):
    mean = jnp.mean(x)
    return cls(jnp.asarray(x.shape[0], jnp.int32), mean, jnp.sum((x - mean) ** 2))

  def merge(self, other):
    n = self.count + other.count
    na, nb = self.count.astype(self.mean.dtype), other.count.astype(self.mean.dtype)
    delta = other.mean - self.mean
    return Moments(n, self.mean + delta * nb / n, self.m2 + other.m2 + delta ** 2 * na * nb / n)

  @property
  def stderr(self):
    n = self.count.astype(self.mean.dtype)
    return jnp.sqrt(self.m2 / (n - 1) / n)


def from_samples(samples, offset=0.0, extra_matvecs=0):
  """TraceEstimate of offset + mean(samples), SE = sample std / sqrt(m)."""
  m = samples.shape[0]
  std = jnp.std(samples, ddof=1) if m > 1 else jnp.asarray(jnp.inf, samples.dtype)
  return TraceEstimate(offset + jnp.mean(samples), std / jnp.sqrt(m), m + extra_matvecs, m - 1)
