"""The drift analysis recovers a planted 1/B law and a planted slope from noisy synthetic traces."""
import numpy as np

from flatness_jax.analysis import drift
from flatness_jax.rundir import reader, records


def test_weighted_slope_recovers_a_line():
  x = np.arange(10.0)
  y = 3.0 - 0.5 * x + np.random.default_rng(0).normal(0, 0.01, 10)
  b, se = drift.weighted_slope(x, y, np.full(10, 0.01))
  assert abs(b + 0.5) < 5 * se and se < 0.01


def _run(name, batch, rate, rng):
  steps = [0, 200, 400, 600, 800]
  curv = {s: records.Curvature(s, hessian={records.HUTCHINSON: records.Estimate(10.0 - rate * s + rng.normal(0, 0.02),
                                                                               0.02)}) for s in steps}
  return reader.RunRecord(workdir=name, name=name, arm=name, seed=0, replicate=0,
                          config={"train": {"batch_size": batch}}, summary=None, evaluations={}, curvature=curv,
                          probes=records.Probes(), pairs=None)


def test_batch_scaling_recovers_one_over_b():
  rng = np.random.default_rng(1)
  runs = [_run(f"b{b}", b, 0.5 / b, rng) for b in (32, 64, 128, 256)]
  rates = drift.drift_rates(runs)
  assert [r["batch_size"] for r in rates] == [32, 64, 128, 256]
  fit = drift.batch_scaling(rates)
  assert abs(fit["slope"] + 1.0) < 3 * fit["slope_se"] + 0.05
  # A planted 1/sqrt(B) law is told apart from 1/B.
  runs2 = [_run(f"b{b}", b, 0.05 / np.sqrt(b), rng) for b in (32, 64, 128, 256)]
  fit2 = drift.batch_scaling(drift.drift_rates(runs2))
  assert abs(fit2["slope"] + 0.5) < 0.1
