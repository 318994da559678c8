"""The drift analysis recovers a planted 1/B law and a planted slope from noisy synthetic traces."""
import re

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


def _scattered_runs(rng, sigma=0.3):
  """Four batch sizes whose drift rates follow 1/B up to a run-to-run factor exp(σ·N(0, 1)) that their own SEs do
  not show (each run's Tr(H) line is nearly exact): the fit's scale comes from its residuals, on 2 dof."""
  runs = []
  for b in (64, 128, 256, 512):
    rate = 0.5 / b * np.exp(sigma * rng.standard_normal())
    steps = [0, 200, 400, 600, 800, 1000]
    curv = {s: records.Curvature(s, hessian={records.HUTCHINSON: records.Estimate(
        100.0 - rate * s + 1e-4 * rng.standard_normal(), 1e-4)}) for s in steps}
    runs.append(reader.RunRecord(workdir=f"b{b}", name=f"b{b}", arm=f"b{b}", seed=0, replicate=0,
                                 config={"train": {"batch_size": b}}, summary=None, evaluations={}, curvature=curv,
                                 probes=records.Probes(), pairs=None))
  return runs


def test_the_batch_slope_interval_covers_the_true_exponent_at_its_level():
  """The drift section's 95% interval of the log–log slope (true value −1) covers it in 95% of experiments, within
  2 Monte Carlo SEs: with its scale estimated from 2 residual dof it needs t_2, not 1.96."""
  rng = np.random.default_rng(12)
  sims, covered = 300, 0
  for _ in range(sims):
    text = "\n".join(drift.drift_lines(_scattered_runs(rng)))
    lo, hi = map(float, re.search(r"95% CI \[([-\d.]+), ([-\d.]+)\]", text).groups())
    covered += lo <= -1.0 <= hi
  assert covered / sims >= 0.95 - 2 * np.sqrt(0.95 * 0.05 / sims), covered / sims
