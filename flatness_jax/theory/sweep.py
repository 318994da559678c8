"""The η × B sweep of the Theorem 4.3 check: SGD seeds and the predicted flow from one point of Γ, compared.

For each batch size B and learning rate η, SGD runs `num_seeds` seeds for k_end = R·⌈horizon·B / (η² R)⌋ steps
(R = num_records records), i.e. to t = η² k_end ≈ horizon·B: the flow dθ/dt = −(1/(4B)) P_T ∇Tr∇²L is a function
of t/B, so every B is compared over the same stretch of the flow (the same predicted decrease), and the 1/B is
tested, not assumed, because each B's flow is integrated with its own B. The flow is evaluated at exactly the
recorded times t_i = η² k_i. Everything runs in float64 (jax.enable_x64 for the duration of `run_sweep`).
"""
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from flatness_jax.theory import compare, flow, manifold, model, sgd


class Settings(NamedTuple):
  """The sweep's settings (configs/theory_drift.py documents each field)."""
  seed: int = 0
  num_classes: int = 3
  dim: int = 3
  rank: int = 2
  teacher_scale: float = 1.0
  imbalance: float = 2.0
  learning_rates: tuple = (0.2, 0.1, 0.05, 0.025, 0.0125)
  batch_sizes: tuple = (1, 4, 16)
  num_seeds: int = 16
  horizon: float = 1.0
  num_records: int = 8
  flow_step: float = 0.01
  sgd_seed: int = 0


def check(s: Settings, prefix: str = "theory") -> None:
  """Raises ValueError naming the field for a setting outside its range."""
  def bad(field, why):
    raise ValueError(f"{prefix}.{field}={getattr(s, field)!r}: {why}")
  if s.num_classes < 2:
    bad("num_classes", "needs at least 2 classes")
  if s.dim < 1:
    bad("dim", "must be ≥ 1")
  if not 1 <= s.rank <= min(s.num_classes - 1, s.dim):
    bad("rank", f"must be in [1, min(num_classes − 1, dim)] = [1, {min(s.num_classes - 1, s.dim)}]")
  if not s.teacher_scale > 0:
    bad("teacher_scale", "must be > 0")
  if not s.imbalance > 0 or s.imbalance == 1.0:
    bad("imbalance", "must be > 0 and ≠ 1 (at 1 the start is balanced and the flow has little to do)")
  if not s.learning_rates or any(not eta > 0 for eta in s.learning_rates):
    bad("learning_rates", "needs one or more learning rates > 0")
  if not s.batch_sizes or any(int(b) != b or b < 1 for b in s.batch_sizes):
    bad("batch_sizes", "needs one or more integer batch sizes ≥ 1")
  if s.num_seeds < 2:
    bad("num_seeds", "needs ≥ 2 seeds for an interval over seeds")
  if not s.horizon > 0:
    bad("horizon", "must be > 0 (the end of the comparison, in units of t/B)")
  if s.num_records < 2:
    bad("num_records", "needs ≥ 2 records (the distance to Γ is averaged over the second half)")
  if not 0 < s.flow_step <= s.horizon / 4:
    bad("flow_step", f"must be in (0, horizon/4 = {s.horizon / 4}] (RK4 step in units of t/B)")


def setup(s: Settings):
  """(problem, θ0): the check model and the start point on Γ."""
  problem, factors = model.make_problem(s.seed, s.num_classes, s.dim, s.rank, s.teacher_scale)
  return problem, model.start_point(factors, s.imbalance)


def describe(problem, theta0) -> dict:
  """Exact facts of the start: sizes, L*, loss gap, Tr∇²L, spectrum, flow speed ‖P_T ∇Tr∇²L‖²."""
  hess = np.asarray(model.hessian(theta0, problem))
  lam = compare.normal_eigenvalues(hess)
  grad = model.hessian_trace_gradient(theta0, problem)
  tangent = manifold.project_tangent(theta0, problem, grad)
  return {"num_params": int(theta0.shape[0]), "dim_gamma": int(theta0.shape[0] - len(lam)),
          "codim_gamma": int(len(lam)), "loss_minimum": float(model.population_minimum(problem)),
          "start_loss_gap": float(model.population_loss(theta0, problem) - model.population_minimum(problem)),
          "start_trace": float(model.hessian_trace(theta0, problem)), "start_trace_dense": float(np.trace(hess)),
          "normal_eigenvalues": lam.tolist(), "tangent_grad_sq": float(tangent @ tangent),
          "noise_minus_hessian": float(np.abs(np.asarray(model.noise_covariance(theta0, problem)) - hess).max())}


def schedule(learning_rate: float, batch_size: int, s: Settings) -> int:
  """Steps between records: horizon·B / (η² R) rounded (≥ 1)."""
  return max(1, int(round(s.horizon * batch_size / (learning_rate ** 2 * s.num_records))))


def run_cell(problem, theta0, learning_rate: float, batch_size: int, s: Settings) -> dict:
  """SGD seeds and the flow at one (η, B): ratios (at the iterate and on Γ), distances, and the curves."""
  t0 = time.time()
  every = schedule(learning_rate, batch_size, s)
  out = sgd.run(problem, theta0, learning_rate=learning_rate, batch_size=batch_size, num_seeds=s.num_seeds,
                record_every=every, num_records=s.num_records, seed=s.sgd_seed)
  out = jax.tree.map(np.asarray, out)
  thetas, flow_trace = flow.integrate(problem, theta0, out["t"], batch_size, max_step=s.flow_step * batch_size)
  flow_trace = np.asarray(flow_trace)
  half = s.num_records // 2
  predicted = np.mean([compare.predicted_distance(model.hessian(th, problem), learning_rate, batch_size)
                       for th in thetas[half:]])
  measured = compare.rms_distance(out["distance"], half)
  return {
      "learning_rate": learning_rate, "batch_size": batch_size, "steps": int(out["steps"][-1]),
      "record_every": every, "t": out["t"].tolist(), "flow_trace": flow_trace.tolist(),
      "trace": out["trace"].tolist(), "trace_on_gamma": out["trace_on_gamma"].tolist(),
      "ratio": compare.decrease_ratio(out["trace"], flow_trace),
      "ratio_on_gamma": compare.decrease_ratio(out["trace_on_gamma"], flow_trace),
      "decrease_per_step": float(np.mean(out["trace"][:, 0] - out["trace"][:, -1]) / out["steps"][-1]),
      "distance_rms": measured, "distance_predicted": float(predicted),
      "distance_over_sqrt_lr": measured / np.sqrt(learning_rate),
      "start_loss_gap": float(np.max(np.abs(out["loss_gap"][:, 0]))),
      "start_distance": float(np.max(out["distance"][:, 0])),
      "seconds": time.time() - t0,
  }


def extrapolations(cells: list[dict], key: str) -> dict:
  """Per batch size: the η → 0 intercept of the ratio `key` (compare.extrapolate_to_zero)."""
  out = {}
  for b in sorted({c["batch_size"] for c in cells}):
    mine = sorted((c for c in cells if c["batch_size"] == b), key=lambda c: c["learning_rate"])
    out[str(b)] = compare.extrapolate_to_zero([c["learning_rate"] for c in mine], [c[key]["ratio"] for c in mine],
                                              [c[key]["se"] for c in mine])
  return out


def run_sweep(s: Settings, on_cell=None) -> dict:
  """Every (η, B) cell; `on_cell(done, total, cell)` is called after each (progress)."""
  check(s)
  with jax.enable_x64(True):
    problem, theta0 = setup(s)
    start = describe(problem, theta0)
    lam_max = max(start["normal_eigenvalues"])
    for eta in s.learning_rates:
      if eta * lam_max >= 2.0:
        raise ValueError(f"theory.learning_rates: η = {eta} is unstable (η·λ_max = {eta * lam_max:.2f} ≥ 2)")
    cells, total = [], len(s.learning_rates) * len(s.batch_sizes)
    for b in s.batch_sizes:
      for eta in sorted(s.learning_rates, reverse=True):
        cells.append(run_cell(problem, theta0, float(eta), int(b), s))
        if on_cell:
          on_cell(len(cells), total, cells[-1])
    curves = {}
    for b in s.batch_sizes:  # the predicted Tr∇²L(t) on a fine grid, for the figure
      t = np.linspace(0.0, s.horizon * b, 41)
      curves[str(b)] = {"t": t.tolist(), "trace": np.asarray(
          flow.integrate(problem, theta0, t, b, max_step=s.flow_step * b)[1]).tolist()}
    return {"settings": s._asdict(), "start": start, "cells": cells, "flow_curves": curves,
            "extrapolated": {"ratio": extrapolations(cells, "ratio"),
                             "ratio_on_gamma": extrapolations(cells, "ratio_on_gamma")},
            "theta0": np.asarray(theta0).tolist(), "teacher": np.asarray(problem.teacher).tolist()}
