"""Batch-size dependence of the flatness drift after convergence (Liu et al. 2023, Theorem 4.3).

Near the manifold of minimisers, SGD with learning rate η and batch size B drifts along it, decreasing Tr(H) with
a coefficient proportional to 1/(4B) (the noise covariance scales as 1/B). So for runs that start at the same
converged parameters and differ only in B, the per-step rate r_B = −dTr(H)/dstep should scale as 1/B:
r_B·B constant, and the log–log slope of r_B against B equal to −1.

`drift_rates` fits, per run, Tr(H) against step by weighted least squares (weights 1/SE² of each estimate) and
returns the rate with its SE; `batch_scaling` fits log r_B = a + s·log B (runs with r_B > 0) and reports s with its
SE next to the prediction s = −1. Both use only what the run directories recorded. A fit of n > 2 points scales
its SE by the residual scatter when the points disagree more than their SEs say, so its intervals use Student's t
on n − 2 degrees of freedom (`weighted_fit`), not the normal quantile: with four batch sizes that scale rests on two
degrees of freedom. `slope_test` is the slope's t test (of "no B dependence"); the report's family decides whether
it carries a verdict (the 'drift' claim, flatness_jax.analysis.claims).
"""
import numpy as np

from flatness_jax.analysis import stats
from flatness_jax.rundir import records

PREDICTION = -1.0


def weighted_fit(x, y, se):
  """(slope, stderr, dof) of the weighted least-squares line y ≈ a + b·x with weights 1/se²: with n > 2 points the
  SE is scaled by the residual scatter when that exceeds the stated SEs, on n − 2 dof; two points: the stated SEs
  (dof inf)."""
  x, y, w = np.asarray(x, float), np.asarray(y, float), 1.0 / np.maximum(np.asarray(se, float), 1e-12) ** 2
  if len(x) < 2:
    return float("nan"), float("nan"), float("nan")
  xm = np.sum(w * x) / np.sum(w)
  sxx = np.sum(w * (x - xm) ** 2)
  b = np.sum(w * (x - xm) * (y - np.sum(w * y) / np.sum(w))) / sxx
  if len(x) > 2:  # scale the SE by the residual scatter when the points disagree more than their SEs say
    a = np.sum(w * y) / np.sum(w) - b * xm
    chi2 = np.sum(w * (y - a - b * x) ** 2) / (len(x) - 2)
    return float(b), float(np.sqrt(max(chi2, 1.0) / sxx)), float(len(x) - 2)
  return float(b), float(np.sqrt(1.0 / sxx)), float("inf")


def weighted_slope(x, y, se):
  """(slope, stderr) of `weighted_fit`."""
  return weighted_fit(x, y, se)[:2]


def drift_rates(runs, trace_key=records.HUTCHINSON) -> list[dict]:
  """Per run (reader.RunRecord) with ≥ 2 curvature steps: batch size and rate −dTr(H)/dstep ± SE."""
  out = []
  for r in runs:
    vals = [(s, r.curvature[s].estimate(trace_key)) for s in sorted(r.curvature)]
    vals = [(s, e.value, e.stderr) for s, e in vals if e.present]
    if len(vals) < 2:
      continue
    s, y, se = zip(*vals)
    slope, slope_se, dof = weighted_fit(s, y, se)
    batch = r.config.get("train", {}).get("batch_size")
    out.append({"run": r.name, "batch_size": batch, "rate": -slope, "rate_se": slope_se, "rate_dof": dof,
                "trace_first": y[0], "trace_last": y[-1], "steps": [s[0], s[-1]]})
  return out


def batch_scaling(rates: list[dict]) -> dict:
  """Log–log fit of rate against batch size over runs with a positive rate: slope ± SE (prediction: −1)."""
  use = [r for r in rates if r["batch_size"] and r["rate"] > 0]
  if len({r["batch_size"] for r in use}) < 2:
    return {"slope": float("nan"), "slope_se": float("nan"), "slope_dof": float("nan"), "num_runs": len(use)}
  x = np.log([r["batch_size"] for r in use])
  y = np.log([r["rate"] for r in use])
  se = [max(r["rate_se"] / r["rate"], 1e-6) for r in use]  # delta method: SE of log r
  slope, slope_se, dof = weighted_fit(x, y, se)
  return {"slope": slope, "slope_se": slope_se, "slope_dof": dof, "num_runs": len(use), "prediction": PREDICTION,
          "rate_times_batch": [r["rate"] * r["batch_size"] for r in use]}


def slope_test(fit: dict):
  """(stats.TTest of the log–log slope against 0, runs it rests on); the test is None below 3 runs (no dof)."""
  n = fit["num_runs"]
  if n < 3 or not np.isfinite(fit["slope"]):
    return None, n
  return stats.TTest(fit["slope"], fit["slope_se"], fit["slope_dof"]), n


def drift_lines(runs, trace_key=records.HUTCHINSON) -> list[str]:
  """The report's drift table and the fitted slope with its 95% interval (t on the fit's dof), or [] when fewer
  than two batch sizes were measured. Whether it carries a verdict is the family's business (the 'drift' row)."""
  rates = drift_rates(runs, trace_key)
  if len({r["batch_size"] for r in rates}) < 2:
    return []
  fit = batch_scaling(rates)
  lines = ["| run | batch B | −dTr(H)/dstep ± SE | rate·B | Tr(H) first → last |", "|---|---|---|---|---|"]
  for r in rates:
    lines.append(f"| {r['run']} | {r['batch_size']} | {r['rate']:.2e} ± {r['rate_se']:.1e} | "
                 f"{r['rate'] * r['batch_size']:.3g} | {r['trace_first']:.3f} → {r['trace_last']:.3f} |")
  test, n = slope_test(fit)
  resolved = sum(r["rate"] - stats.t_quantile(r["rate_dof"]) * r["rate_se"] > 0 for r in rates)
  tail = f"Runs whose decrease of Tr(H) is itself resolved (95%): {resolved} of {len(rates)}."
  if test is None:
    return lines + ["", f"Log–log slope of rate vs B: fewer than 3 runs with a positive rate ({n}), no interval. "
                    + tail]
  lo, hi = test.interval(0.95)
  where = lambda v: "inside" if lo <= v <= hi else "outside"  # pylint: disable=unnecessary-lambda-assignment
  lines += ["", f"Log–log slope of rate vs B over {n} runs with a positive rate: {fit['slope']:.2f} ± "
            f"{fit['slope_se']:.2f} (95% CI [{lo:.2f}, {hi:.2f}], t on {test.df:g} dof); the predicted −1 is "
            f"{where(PREDICTION)} it, no B dependence (0) {where(0.0)}. " + tail]
  return lines
