"""Theory tests: the check model's start point on Γ, and fast compilation.

As in curvature/tests, a test's time here is mostly XLA compilation of tiny float64 programs; its autouse
`_fast_compile` fixture (XLA's optimisations mostly off, results unchanged beyond rounding) applies here too.
"""
import jax
import pytest

from flatness_jax.theory import model


@pytest.fixture(autouse=True)
def _fast_compile():
  previous = jax.config.read("jax_disable_most_optimizations")
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", previous)


@pytest.fixture
def start(x64):
  """(problem, θ0): the default check model (model.make_problem(0)) and its start (U* g, V* / g), g = 2, on Γ."""
  problem, factors = model.make_problem(0)
  return problem, model.start_point(factors, 2.0)
