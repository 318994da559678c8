"""Batch-size dependence of the flatness drift after convergence (Liu et al. 2023, Theorem 4.3).

Near the manifold of minimisers, SGD with learning rate η and batch size B drifts along it, decreasing Tr(H) with
a coefficient proportional to 1/(4B) (the noise covariance scales as 1/B). So for runs that start at the same
converged parameters and differ only in B, the per-step rate r_B = −dTr(H)/dstep should scale as 1/B:
r_B·B constant, and the log–log slope of r_B against B equal to −1.

`drift_rates` fits, per run, Tr(H) against step by weighted least squares (weights 1/SE² of each estimate) and
returns the rate with its SE; `batch_scaling` fits log r_B = a + s·log B (runs with r_B > 0) and reports s with its
SE next to the prediction s = −1. Both use only what the run directories recorded.
"""
import numpy as np

from flatness_jax.rundir import records


def weighted_slope(x, y, se):
  """(slope, stderr) of the weighted least-squares line y ≈ a + b·x with weights 1/se²."""
  x, y, w = np.asarray(x, float), np.asarray(y, float), 1.0 / np.maximum(np.asarray(se, float), 1e-12) ** 2
  if len(x) < 2:
    return float("nan"), float("nan")
  xm = np.sum(w * x) / np.sum(w)
  sxx = np.sum(w * (x - xm) ** 2)
  b = np.sum(w * (x - xm) * (y - np.sum(w * y) / np.sum(w))) / sxx
  if len(x) > 2:  # scale the SE by the residual scatter when the points disagree more than their SEs say
    a = np.sum(w * y) / np.sum(w) - b * xm
    chi2 = np.sum(w * (y - a - b * x) ** 2) / (len(x) - 2)
    return float(b), float(np.sqrt(max(chi2, 1.0) / sxx))
  return float(b), float(np.sqrt(1.0 / sxx))


def drift_rates(runs, trace_key=records.HUTCHINSON) -> list[dict]:
  """Per run (reader.RunRecord) with ≥ 2 curvature steps: batch size and rate −dTr(H)/dstep ± SE."""
  out = []
  for r in runs:
    vals = [(s, r.curvature[s].estimate(trace_key)) for s in sorted(r.curvature)]
    vals = [(s, e.value, e.stderr) for s, e in vals if e.present]
    if len(vals) < 2:
      continue
    s, y, se = zip(*vals)
    slope, slope_se = weighted_slope(s, y, se)
    batch = r.config.get("train", {}).get("batch_size")
    out.append({"run": r.name, "batch_size": batch, "rate": -slope, "rate_se": slope_se,
                "trace_first": y[0], "trace_last": y[-1], "steps": [s[0], s[-1]]})
  return out


def batch_scaling(rates: list[dict]) -> dict:
  """Log–log fit of rate against batch size over runs with a positive rate: slope ± SE (prediction: −1)."""
  use = [r for r in rates if r["batch_size"] and r["rate"] > 0]
  if len({r["batch_size"] for r in use}) < 2:
    return {"slope": float("nan"), "slope_se": float("nan"), "num_runs": len(use)}
  x = np.log([r["batch_size"] for r in use])
  y = np.log([r["rate"] for r in use])
  se = [max(r["rate_se"] / r["rate"], 1e-6) for r in use]  # delta method: SE of log r
  slope, slope_se = weighted_slope(x, y, se)
  return {"slope": slope, "slope_se": slope_se, "num_runs": len(use), "prediction": -1.0,
          "rate_times_batch": [r["rate"] * r["batch_size"] for r in use]}


def drift_lines(runs, trace_key=records.HUTCHINSON) -> list[str]:
  """The report's drift table and the slope verdict, or [] when fewer than two batch sizes were measured."""
  rates = drift_rates(runs, trace_key)
  if len({r["batch_size"] for r in rates}) < 2:
    return []
  fit = batch_scaling(rates)
  lines = ["| run | batch B | −dTr(H)/dstep ± SE | rate·B | Tr(H) first → last |", "|---|---|---|---|---|"]
  for r in rates:
    lines.append(f"| {r['run']} | {r['batch_size']} | {r['rate']:.2e} ± {r['rate_se']:.1e} | "
                 f"{r['rate'] * r['batch_size']:.3g} | {r['trace_first']:.3f} → {r['trace_last']:.3f} |")
  lo, hi = fit["slope"] - 1.96 * fit["slope_se"], fit["slope"] + 1.96 * fit["slope_se"]
  if lo <= -1.0 <= hi and lo <= 0.0 <= hi:
    agree = "too uncertain to test"  # the interval contains both "no B dependence" and the prediction
  else:
    agree = "consistent with" if lo <= -1.0 <= hi else "inconsistent with"
  resolved = sum(r["rate"] - 1.96 * r["rate_se"] > 0 for r in rates)
  lines += ["", f"Log–log slope of rate vs B over {fit['num_runs']} runs with a positive rate: "
            f"{fit['slope']:.2f} ± {fit['slope_se']:.2f} (95% CI [{lo:.2f}, {hi:.2f}]), **{agree}** against the "
            f"predicted −1. Runs whose decrease of Tr(H) is itself significant (95%): {resolved} of {len(rates)}."]
  return lines
