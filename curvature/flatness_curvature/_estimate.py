"""The result types of the estimators, and the small statistics they share.

`TraceEstimate(value, stderr, num_matvecs, dof, converged)`: the estimate, its estimated standard error, the number
of operator applications spent (for `fisher_trace`: per-example gradients), the degrees of freedom of the standard
error, and whether an adaptive estimate reached its `rtol` (True for a fixed budget, which has no target).
`Estimate(value, stderr, dof, num_evaluations)` is the same for the Monte-Carlo measures that are not traces
(average-case sharpness, the Fisher–Rao norm): num_evaluations counts loss or model evaluations.
`ci95` is the Student-t interval value ± t_{0.975, dof} · stderr (normal when dof is large). The t quantile uses the
Cornish–Fisher expansion (Abramowitz & Stegun 26.7.5), accurate to < 1e-3 for dof ≥ 3, so it also works on traced
dof (adaptive estimators stop at a data-dependent sample count).

Running moments are merged chunk by chunk with Chan, Golub & LeVeque's (1979) parallel update, stable in float32.
"""
import collections
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


def ci95(value, stderr, dof):
  """(low, high): the 95% Student-t confidence interval value ± t_{0.975, dof} · stderr."""
  half = t_quantile_975(dof) * stderr
  return value - half, value + half


class _ErrorBar:
  """The interval of a (value, stderr, dof) record."""
  __slots__ = ()

  @property
  def ci95(self):
    """(low, high): the 95% Student-t confidence interval."""
    return ci95(self.value, self.stderr, self.dof)

  @property
  def rel_stderr(self):
    return self.stderr / jnp.abs(self.value)


class TraceEstimate(collections.namedtuple("TraceEstimate", "value stderr num_matvecs dof converged",
                                           defaults=(True,)), _ErrorBar):
  """A stochastic trace estimate with its error bar (a pytree: vmap/jit return stacked estimates)."""
  __slots__ = ()


class Estimate(collections.namedtuple("Estimate", "value stderr dof num_evaluations"), _ErrorBar):
  """A Monte-Carlo estimate with its error bar; num_evaluations counts loss or model evaluations."""
  __slots__ = ()


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


def mean_and_stderr(samples):
  """(mean, sample std / √m, dof m − 1) over the leading axis (SE inf for one sample)."""
  m = samples.shape[0]
  std = jnp.std(samples, axis=0, ddof=1) if m > 1 else jnp.full(samples.shape[1:], jnp.inf, samples.dtype)
  return jnp.mean(samples, axis=0), std / jnp.sqrt(m), m - 1


def from_samples(samples, offset=0.0, extra_matvecs=0):
  """TraceEstimate of offset + mean(samples), SE = sample std / sqrt(m)."""
  mean, se, dof = mean_and_stderr(samples)
  return TraceEstimate(offset + mean, se, samples.shape[0] + extra_matvecs, dof, jnp.asarray(True))
