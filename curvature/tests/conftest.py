"""Fixtures of the library's tests: float64 on demand, and XLA's optimisations mostly off.

The float64 test problems are tiny, so a test's time is almost all XLA compilation (each estimator, budget and
model is a fresh program); `jax_disable_most_optimizations` cuts that 2–3× on CPU and changes no result beyond
rounding.
"""
import jax
import pytest


@pytest.fixture
def x64():
  """Runs the test with jax_enable_x64 on."""
  with jax.enable_x64(True):
    yield


@pytest.fixture(autouse=True)
def _fast_compile():
  previous = jax.config.read("jax_disable_most_optimizations")
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", previous)
