"""Diagonal, per-block trace and Frobenius estimators against a dense float64 Hessian.

XDiag is also checked against a brute-force implementation of its definition (explicit projectors per test
vector), to rounding; the stochastic estimators go through the shared convergence helper with fixed seeds.
"""
import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from flatness_curvature import (block_traces, diagonal_estimate, frobenius_norm_sq, hessian_matvec, hessian_trace,
                                mask_by_regex, random_vectors, synthetic)
from convergence import check_estimator_convergence, median_rel_errors
from tiny_models import dense_hessian, make_mlp

Value = collections.namedtuple("Value", "value")


@pytest.fixture
def mlp(x64):
  params, loss_fn, batch = make_mlp()
  return params, loss_fn, batch, dense_hessian(loss_fn, params, batch)[0]


def test_hutchinson_diagonal_converges(mlp):
  params, loss_fn, batch, h = mlp
  op = hessian_matvec(loss_fn, params, batch)
  check_estimator_convergence(lambda k, m: diagonal_estimate(op, params, k, num_matvecs=m), (8, 512), np.diag(h),
                              final_rtol=0.2, shrink=0.25)
  est = diagonal_estimate(op, params, jax.random.key(0), num_matvecs=400)
  z = (ravel_pytree(est.value)[0] - np.diag(h)) / ravel_pytree(est.stderr)[0]
  assert np.mean(np.abs(z) < 2.0) > 0.85 and est.num_matvecs == 400       # per-entry error bars


def test_xdiag_equals_its_definition(x64):
  """d̂ = (1/s) Σᵢ [diag(Pᵢ A) + ωᵢ ⊙ (I − Pᵢ) A ωᵢ], Pᵢ the projector onto range(A Ω without column i)."""
  n, s = 30, 6
  a = synthetic.random_symmetric(synthetic.spectrum("indefinite", n), seed=1)
  like = jnp.zeros(n)
  key = jax.random.key(3)
  est = diagonal_estimate(lambda v: jnp.asarray(a) @ v, like, key, method="xdiag", num_matvecs=2 * s)
  omega = np.asarray(random_vectors(key, 0, s, like)).T                    # the library's test vectors, [n, s]
  y = a @ omega
  ref = np.zeros(n)
  for i in range(s):
    q, _ = np.linalg.qr(np.delete(y, i, axis=1))
    p = q @ q.T
    ref += np.diag(p @ a) + omega[:, i] * ((np.eye(n) - p) @ a @ omega[:, i])
  np.testing.assert_allclose(np.asarray(est.value), ref / s, rtol=1e-10, atol=1e-12)


def test_xdiag_beats_hutchinson_on_a_decaying_spectrum(x64):
  a = jnp.asarray(synthetic.random_symmetric(synthetic.spectrum("i^-2", 200), seed=2))
  like, exact = jnp.zeros(200), np.diag(np.asarray(a))
  mv = lambda v: a @ v  # noqa: E731
  xd = check_estimator_convergence(lambda k, m: diagonal_estimate(mv, like, k, method="xdiag", num_matvecs=m),
                                   (20, 160), exact, final_rtol=0.02, shrink=0.1)
  hutch = median_rel_errors(lambda k, m: diagonal_estimate(mv, like, k, num_matvecs=m), (160,), exact)
  assert xd[-1] < 0.1 * hutch[0], (xd, hutch)


def test_block_traces(mlp):
  """Per-layer traces in one call: each block's estimate converges to Σ of its diagonal, and disjoint blocks
  covering all parameters add up to the Hutchinson estimate of the whole trace (same vectors, same products)."""
  params, loss_fn, batch, h = mlp
  op = hessian_matvec(loss_fn, params, batch)
  blocks = {"layer 1": "1", "layer 2": "2", "weights": mask_by_regex(params, include="w")}
  entries = {name: np.concatenate([np.full(x.size, bool(np.asarray(m))) for x, m in zip(
      jax.tree.leaves(params), jax.tree.leaves(mask_by_regex(params, include=b) if isinstance(b, str) else b))])
             for name, b in blocks.items()}
  exact = np.array([np.diag(h)[e].sum() for e in entries.values()])
  check_estimator_convergence(
      lambda k, m: Value(jnp.stack([e.value for e in block_traces(op, params, blocks, k, num_matvecs=m).values()])),
      (8, 1024), exact, final_rtol=0.1)
  key = jax.random.key(4)
  parts = block_traces(op, params, blocks, key, num_matvecs=64)
  whole = hessian_trace(loss_fn, params, batch, key, num_matvecs=64)
  np.testing.assert_allclose(float(parts["layer 1"].value + parts["layer 2"].value), float(whole.value), rtol=1e-10)
  assert all(int(e.num_matvecs) == 64 and float(e.stderr) > 0 for e in parts.values())


def test_frobenius_norm(mlp):
  params, loss_fn, batch, h = mlp
  op = hessian_matvec(loss_fn, params, batch)
  check_estimator_convergence(lambda k, m: frobenius_norm_sq(op, params, k, num_matvecs=m), (4, 256),
                              np.sum(h ** 2), final_rtol=0.05)
