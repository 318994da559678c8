"""report.md of the Theorem 4.3 check: the η × B ratio tables with 95% intervals over seeds, the η → 0
extrapolation, the distance to Γ against √η, and verdicts computed from those numbers (sweep.run_sweep's result)."""
import numpy as np

_Z = 1.959963984540054


def _cell(result, eta, b):
  return next(c for c in result["cells"] if c["learning_rate"] == eta and c["batch_size"] == b)


def _axes(result):
  rates = sorted({c["learning_rate"] for c in result["cells"]}, reverse=True)
  return rates, sorted({c["batch_size"] for c in result["cells"]})


def ratio_table(result, key: str) -> list[str]:
  """Rows η, columns B: measured/predicted decrease, mean [95% CI] over seeds; last row the η → 0 intercept."""
  rates, batches = _axes(result)
  lines = ["| η | " + " | ".join(f"B = {b}" for b in batches) + " |", "|---" * (len(batches) + 1) + "|"]
  for eta in rates:
    cells = [_cell(result, eta, b)[key] for b in batches]
    lines.append(f"| {eta:g} | " + " | ".join(f"{c['ratio']:.3f} [{c['ci95'][0]:.3f}, {c['ci95'][1]:.3f}]"
                                             for c in cells) + " |")
  ext = result["extrapolated"][key]
  lines.append("| η → 0 (fit a + bη) | " + " | ".join(
      f"{ext[str(b)]['intercept']:.3f} ± {ext[str(b)]['se']:.3f}" for b in batches) + " |")
  return lines


def ratio_verdict(result, key: str) -> str:
  """Each B's η → 0 intercept against 1 (in SE and in %), and whether |ratio − 1| shrinks from the largest η to the
  smallest."""
  rates, batches = _axes(result)
  ext = result["extrapolated"][key]
  parts, shrinks = [], []
  for b in batches:
    a, se = ext[str(b)]["intercept"], ext[str(b)]["se"]
    parts.append(f"B = {b}: {a:.4f} ± {se:.4f} ({(a - 1) / se:+.1f} SE from 1)")
    smallest, largest = _cell(result, rates[-1], b)[key]["ratio"], _cell(result, rates[0], b)[key]["ratio"]
    shrinks.append(abs(smallest - 1) < abs(largest - 1))
  worst = max(abs(ext[str(b)]["intercept"] - 1) for b in batches)
  within = sum(abs(ext[str(b)]["intercept"] - 1) <= _Z * ext[str(b)]["se"] for b in batches)
  trend = ("|ratio − 1| is smaller at the smallest η than at the largest for every B" if all(shrinks) else
           f"|ratio − 1| shrinks from the largest to the smallest η for {sum(shrinks)} of {len(batches)} B")
  return (f"η → 0 limit: {'; '.join(parts)}: within 1.96 SE of 1 for {within} of {len(batches)} B, and within "
          f"{100 * worst:.1f}% of 1 for every B. {trend}.")


def distance_table(result) -> list[str]:
  """Rows η, columns B: RMS distance to Γ (second half of each run), that over √η, and measured/predicted."""
  rates, batches = _axes(result)
  lines = ["| η | " + " | ".join(f"B = {b}: dist, dist/√η, meas/pred" for b in batches) + " |",
           "|---" * (len(batches) + 1) + "|"]
  for eta in rates:
    cells = [_cell(result, eta, b) for b in batches]
    lines.append(f"| {eta:g} | " + " | ".join(
        f"{c['distance_rms']:.4f}, {c['distance_over_sqrt_lr']:.3f}, {c['distance_rms'] / c['distance_predicted']:.3f}"
        for c in cells) + " |")
  return lines


def distance_verdict(result) -> str:
  rates, batches = _axes(result)
  spread = [np.ptp([_cell(result, eta, b)["distance_over_sqrt_lr"] for eta in rates])
            / np.mean([_cell(result, eta, b)["distance_over_sqrt_lr"] for eta in rates]) for b in batches]
  ratio = [_cell(result, eta, b)["distance_rms"] / _cell(result, eta, b)["distance_predicted"]
           for eta in rates for b in batches]
  return (f"dist/√η varies by at most {100 * max(spread):.0f}% across η at fixed B (O(√η)); measured/predicted "
          f"RMS distance ranges over [{min(ratio):.3f}, {max(ratio):.3f}].")


def drift_line(result) -> str:
  """The drift in the units of an experiment: −ΔTr∇²L per SGD step, measured, at the smallest and largest η."""
  rates, batches = _axes(result)
  st = result["start"]
  parts = []
  for eta in (rates[-1], rates[0]):
    cells = [_cell(result, eta, b) for b in batches]
    parts.append(f"η = {eta:g}: " + ", ".join(f"{c['decrease_per_step']:.2e} (B = {c['batch_size']})" for c in cells))
  return (f"Drift per step, measured (mean over seeds and over the run): {'; '.join(parts)}. At the start the "
          f"prediction is η² ‖P_T ∇Tr∇²L‖² / (4B) with ‖P_T ∇Tr∇²L(θ0)‖² = {st['tangent_grad_sq']:.3f}, i.e. a "
          f"relative rate −dlog Tr∇²L / d(η² k / B) = {st['tangent_grad_sq'] / (4 * st['start_trace']):.3f}.")


def render(result, figure_name: str, runtime_s: float) -> str:
  s, st = result["settings"], result["start"]
  cells = result["cells"]
  lines = [
      "# Theorem 4.3 checked numerically: SGD's drift along Γ with its 1/(4B) constant", "",
      f"Check model (flatness_jax/theory): softmax regression with {s['num_classes']} classes, logits (0, U V x), "
      f"U V of rank {s['rank']}, x ∈ {{±√d e_j}}, d = {s['dim']}, labels from the teacher softmax(0, W* x); "
      f"{st['num_params']} parameters, Γ = {{U V = W*}} of dimension {st['dim_gamma']} (codimension "
      f"{st['codim_gamma']}). Start on Γ with imbalance g = {s['imbalance']:g}: L(θ0) − L* = "
      f"{st['start_loss_gap']:.1e}, Tr∇²L(θ0) = {st['start_trace']:.4f} (dense Hessian {st['start_trace_dense']:.4f}), "
      f"max |Cov(∇ℓ) − ∇²L| = {st['noise_minus_hessian']:.1e} (noise covariance of a batch of B = ∇²L / B), "
      f"normal eigenvalues {min(st['normal_eigenvalues']):.3f} … {max(st['normal_eigenvalues']):.3f}.", "",
      "Prediction: dθ/dt = −(1/(4B)) P_T ∇Tr∇²L(θ), t = η² · steps (flow.py derives the constant). Each cell "
      f"compares the decrease of Tr∇²L from t = 0 to t ≈ {s['horizon']:g}·B (the same stretch of the flow for "
      f"every B), {s['num_seeds']} SGD seeds with fresh samples every step; ratio = measured / predicted decrease, "
      "mean [95% t interval over seeds]. SGD steps per run: "
      f"{min(c['steps'] for c in cells)} to {max(c['steps'] for c in cells)} (k ≈ {s['horizon']:g}·B / η²).", "",
      drift_line(result), "",
      "## Tr∇²L at the SGD iterate θ_k (what an experiment on a real model measures)", "",
      *ratio_table(result, "ratio"), "", ratio_verdict(result, "ratio"), "",
      "## Tr∇²L at the nearest point of Γ to θ_k (the O(√η) normal fluctuation removed)", "",
      *ratio_table(result, "ratio_on_gamma"), "", ratio_verdict(result, "ratio_on_gamma"), "",
      "## Distance to Γ against √η", "",
      "RMS over seeds and the second half of each run; predicted √(Σ_{λ>0} η / (B(2 − ηλ))) on the flow "
      f"(≈ √(η · {st['codim_gamma']} / (2B))).", "",
      *distance_table(result), "", distance_verdict(result), "",
      f"![Tr∇²L vs t]({figure_name})", "",
      f"Runtime: {runtime_s:.0f} s for the sweep ({sum(c['seconds'] for c in cells):.0f} s in cells).", ""]
  return "\n".join(lines)
