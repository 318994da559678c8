"""The predicted flow: on Γ at every output time, its speed, its 1/B, and a planted case with a closed form."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from flatness_jax.theory import flow, manifold, model


def test_flow_stays_on_gamma_and_decreases_the_trace(start):
  problem, theta = start
  thetas, traces = flow.integrate(problem, theta, np.linspace(0.0, 4.0, 5), 4, max_step=0.04)
  gaps = [float(model.population_loss(th, problem) - model.population_minimum(problem)) for th in thetas]
  assert max(abs(g) for g in gaps) < 1e-10
  assert float(jnp.abs(jax.vmap(manifold.constraint, in_axes=(0, None))(thetas, problem)).max()) < 1e-12
  assert np.all(np.diff(np.asarray(traces)) < 0)


def test_initial_rate_is_minus_tangent_gradient_squared_over_4b(start):
  """dTr∇²L/dt = ∇Tr∇²L · v = −‖P_T ∇Tr∇²L‖² / (4B) at t = 0 (central difference of the integrator)."""
  problem, theta = start
  batch, h = 4, 1e-3
  grad = model.hessian_trace_gradient(theta, problem)
  tangent = manifold.project_tangent(theta, problem, grad)
  _, fwd = flow.integrate(problem, theta, [0.0, h], batch, max_step=h / 4)
  _, bwd = flow.integrate(problem, theta, [0.0, h], -batch, max_step=h / 4)  # B → −B runs the flow backwards
  rate = (float(fwd[1]) - float(bwd[1])) / (2 * h)
  assert abs(rate + float(tangent @ tangent) / (4 * batch)) < 1e-6 * abs(rate)


def test_flow_with_batch_b_is_the_batch_1_flow_at_t_over_b(start):
  problem, theta = start
  _, tr16 = flow.integrate(problem, theta, [0.0, 8.0, 16.0], 16, max_step=0.16)
  _, tr1 = flow.integrate(problem, theta, [0.0, 0.5, 1.0], 1, max_step=0.01)
  np.testing.assert_allclose(np.asarray(tr16), np.asarray(tr1), rtol=1e-12)


def test_planted_rank_one_flow_matches_its_closed_form(x64):
  """Binary logistic regression (C = 2), r = 1: Γ = {(u, w*/u)}; with S = u² the flow is
  dS/dt = −(1/B) S (a S² − b) / (S² + q), a = E[A‖x‖²], b = E[A (w*·x)²], q = ‖w*‖², A = p*(1 − p*),
  whose solution is t(S)/B = (q/b) ln(S/S0) − ((b + q a)/(2ab)) ln((a S² − b)/(a S0² − b)); Tr∇²L = a S + b/S."""
  problem, factors = model.make_problem(3, num_classes=2, dim=3, rank=1)
  theta0 = model.start_point(factors, 2.0)
  p = np.asarray(model.teacher_probs(problem))[:, 1]
  x, w, ws = np.asarray(problem.inputs), np.asarray(problem.weights), np.asarray(problem.teacher)[0]
  a, b, q = np.sum(w * p * (1 - p) * np.sum(x ** 2, 1)), np.sum(w * p * (1 - p) * (x @ ws) ** 2), ws @ ws
  s0 = float(theta0[0]) ** 2

  def time_over_b(s):
    return (q / b) * np.log(s / s0) - (b + q * a) / (2 * a * b) * np.log((a * s ** 2 - b) / (a * s0 ** 2 - b))
  batch, times = 4, np.linspace(0.0, 12.0, 7)
  thetas, traces = flow.integrate(problem, theta0, times, batch, max_step=0.02)
  for t, th, tr in zip(times[1:], thetas[1:], traces[1:]):
    s = optimize.brentq(lambda s: time_over_b(s) - t / batch, np.sqrt(b / a) * (1 + 1e-12), s0, xtol=1e-14)
    assert abs(float(th[0]) ** 2 - s) < 1e-6 * s
    assert abs(float(tr) - (a * s + b / s)) < 1e-6
  assert float(traces[-1]) < 0.5 * float(traces[0])  # the planted flow travels most of the way to balance


def test_integrate_rejects_decreasing_times(start):
  problem, theta = start
  with pytest.raises(ValueError, match="increasing"):
    flow.integrate(problem, theta, [0.0, 2.0, 1.0], 1, max_step=0.1)
