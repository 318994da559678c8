"""Shared convergence check for stochastic estimators (after curvlinops' `check_estimator_convergence`)."""
import jax
import numpy as np
from jax.flatten_util import ravel_pytree


def median_rel_errors(estimator, num_matvecs, exact, *, num_seeds=16, seed=0):
  """Median over seeds of ‖estimate − exact‖ / ‖exact‖ for each budget; estimator(key, m) returns a record whose
  `value` is a number (a trace) or a pytree (a diagonal), compared raveled with `exact` (a number or an array)."""
  keys = jax.random.split(jax.random.key(seed), num_seeds)
  exact = np.ravel(np.asarray(exact, np.float64))
  errors = []
  for m in num_matvecs:
    values = jax.jit(jax.vmap(lambda k, m=m: ravel_pytree(estimator(k, m).value)[0]))(keys)
    err = np.linalg.norm(np.asarray(values).reshape(num_seeds, -1) - exact, axis=1) / np.linalg.norm(exact)
    errors.append(float(np.median(err)))
  return errors


def check_estimator_convergence(estimator, num_matvecs, exact, *, final_rtol, shrink=0.5, num_seeds=16, seed=0):
  """Asserts that the median relative error shrinks with the budget and ends below `final_rtol`.

  Args:
    estimator: (key, num_matvecs) -> an estimate with `.value`, traceable (it is vmapped over seeds).
    num_matvecs: increasing budgets.
    exact: the true value (from a dense float64 matrix).
    final_rtol: bound on the median relative error at the largest budget.
    shrink: the error at the largest budget must be ≤ shrink × the error at the smallest, and every budget's
      error ≤ 1.25 × the previous one (fixed seeds, so this is deterministic).
  Returns:
    The list of median relative errors (for messages).
  """
  errors = median_rel_errors(estimator, num_matvecs, exact, num_seeds=num_seeds, seed=seed)
  msg = f"median rel. errors {dict(zip(num_matvecs, errors))}"
  assert errors[-1] <= final_rtol, msg
  assert errors[-1] <= shrink * errors[0], msg
  assert all(b <= 1.25 * a for a, b in zip(errors, errors[1:])), msg
  return errors
