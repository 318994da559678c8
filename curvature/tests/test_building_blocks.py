"""Building blocks: pytree QR, random vectors, masks, the t quantile, and XTrace's jackknife against brute force."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flatness_curvature import Estimate, TraceEstimate, leaf_paths, mask_by_regex, mask_size, trace_estimate
from flatness_curvature._estimate import Moments, t_quantile_975
from flatness_curvature._operator import as_operator
from flatness_curvature._random_vectors import random_vectors
from flatness_curvature._tree_linalg import orthonormalize
from flatness_curvature._xtrace import xtrace_from_sketch

LIKE = {"a": jnp.zeros((3, 4)), "b": {"c": jnp.zeros((5,))}}


def _flat_stack(stack):
  """Stacked pytree -> [k, n] numpy array in ravel_pytree order (no jax programs)."""
  leaves = [np.asarray(x) for x in jax.tree.leaves(stack)]
  return np.concatenate([x.reshape(x.shape[0], -1) for x in leaves], axis=1)


def _vectors(key, start, num, **kw):
  like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, jnp.float64), LIKE)
  return jax.jit(lambda k: random_vectors(k, start, num, like, **kw))(key)


def test_orthonormalize_pytree_and_rank_deficiency(x64):
  y = jax.tree.map(np.array, _vectors(jax.random.key(0), 0, 6, distribution="gaussian"))
  for x in jax.tree.leaves(y):
    x[4] = 2 * x[1] - x[0]                                                 # column 4 dependent on 0, 1
  q, r = jax.jit(orthonormalize)(y)
  qf, yf, r = _flat_stack(q), _flat_stack(y), np.asarray(r)
  np.testing.assert_allclose(r.T @ qf, yf, atol=1e-12)                   # Y = Q R (rows are vectors)
  keep = [0, 1, 2, 3, 5]
  np.testing.assert_allclose(qf[keep] @ qf[keep].T, np.eye(5), atol=1e-12)
  assert np.all(qf[4] == 0) and r[4, 4] == 0 and np.allclose(np.tril(r, -1), 0)


def test_random_vector_distributions(x64):
  z = _flat_stack(_vectors(jax.random.key(1), 0, 4000))
  assert set(np.unique(z)) == {-1.0, 1.0}
  np.testing.assert_allclose(z.T @ z / len(z), np.eye(z.shape[1]), atol=0.07)   # E zzᵀ = I (4000 draws)
  g = _flat_stack(_vectors(jax.random.key(1), 0, 4000, distribution="gaussian"))
  assert abs(g.mean()) < 0.02 and abs(g.var() - 1) < 0.03
  # Vector i does not depend on which block it was generated in.
  np.testing.assert_array_equal(_flat_stack(_vectors(jax.random.key(1), 7, 3)), z[7:10])


def test_masks_by_leaf_path():
  params = {"params": {"Dense_0": {"kernel": jnp.zeros((2, 3)), "bias": jnp.zeros(3)},
                       "embed": {"embedding": jnp.zeros((5, 2))}}}
  assert leaf_paths(params)["params"]["Dense_0"]["kernel"] == "params/Dense_0/kernel"
  mask = mask_by_regex(params, exclude=r"bias|embed")
  assert mask == {"params": {"Dense_0": {"kernel": True, "bias": False}, "embed": {"embedding": False}}}
  assert mask_size(params, mask) == 6 and mask_size(params, None) == 19
  assert mask_by_regex(params, include="Dense", exclude="bias")["params"]["Dense_0"]["kernel"]


def test_t_quantile_matches_tables():
  """Against scipy.stats.t.ppf(0.975, dof) (values copied here: the library's tests need no scipy)."""
  dof = np.array([3, 5, 10, 19, 30, 100, 1000])
  table = np.array([3.182446305, 2.570581836, 2.228138852, 2.093024054, 2.042272456, 1.983971519, 1.962339081])
  np.testing.assert_allclose(t_quantile_975(dof), table, rtol=2e-3)


def test_xtrace_jackknife_equals_brute_force(x64):
  """The O(s³) leave-one-out formulas equal re-running XTrace on Ω without ωⱼ (which spends fresh matvecs)."""
  n, s = 40, 7
  rng = np.random.default_rng(0)
  basis, _ = np.linalg.qr(rng.standard_normal((n, n)))
  a = jnp.asarray((basis * np.arange(1, n + 1) ** -1.0) @ basis.T)
  op = as_operator(lambda v: a @ v, jnp.zeros(n))
  omega = np.asarray(jax.jit(lambda k: random_vectors(k, 0, s, jax.ShapeDtypeStruct((n,), jnp.float64)))(
      jax.random.key(2)))
  y = omega @ np.asarray(a)
  run = jax.jit(lambda om, y, kind: xtrace_from_sketch(op, om, y, error_estimate=kind), static_argnums=2)
  full = run(omega, y, "jackknife")
  assert float(full.value) == float(run(omega, y, "xtrace").value)
  loo = np.array([float(run(np.delete(omega, j, 0), np.delete(y, j, 0), "xtrace").value) for j in range(s)])
  np.testing.assert_allclose(float(full.stderr), np.sqrt((s - 1) / s * np.sum((loo - loo.mean()) ** 2)),
                             rtol=1e-9)
  assert int(full.num_matvecs) == 2 * s and int(full.dof) == s - 1


def test_ci95_uses_the_t_quantile_at_the_estimates_own_dof():
  """At 3 dof the 95% half-width is 3.18 SE, not the normal 1.96 SE (scipy's t.ppf(0.975, 3) = 3.182446305)."""
  for record in (TraceEstimate(10.0, 0.5, 4, 3), Estimate(10.0, 0.5, 3, 4)):
    lo, hi = record.ci95
    np.testing.assert_allclose([(hi + lo) / 2, (hi - lo) / 2], [10.0, 0.5 * 3.182446305], rtol=2e-3)


def test_merged_moments_equal_the_moments_of_all_samples(x64):
  """Chan et al.'s merge keeps the between-chunk term: count, mean and M2 of the concatenation, chunk by chunk."""
  x = np.random.default_rng(3).standard_normal(23) * 2.0 + np.repeat([0.0, 5.0, -3.0], [7, 9, 7])
  chunks = [Moments.of(jnp.asarray(c)) for c in (x[:7], x[7:16], x[16:])]
  merged = chunks[0].merge(chunks[1]).merge(chunks[2])
  assert int(merged.count) == 23
  np.testing.assert_allclose([float(merged.mean), float(merged.m2)], [x.mean(), ((x - x.mean()) ** 2).sum()],
                             rtol=1e-12)
  np.testing.assert_allclose(float(merged.stderr), x.std(ddof=1) / np.sqrt(23), rtol=1e-12)


@pytest.mark.parametrize("adaptive", [False, True])
def test_hutchinson_reports_the_sample_mean_se_and_m_minus_one_dof_of_its_quadratic_forms(x64, adaptive):
  """Against the quadratic forms zᵢᵀ A zᵢ of the same random vectors: value = mean, stderr = s/√m, dof = m − 1
  (adaptive: three steps of 16 merged, stopped at max_matvecs)."""
  n = 12
  a = np.random.default_rng(4).standard_normal((n, n))
  a = jnp.asarray(a + a.T)
  like = jnp.zeros(n)
  key = jax.random.key(5)
  kw = dict(num_matvecs=5) if not adaptive else dict(rtol=1e-12, min_matvecs=10, max_matvecs=48)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    est = trace_estimate(lambda v: a @ v, like, key, method="hutchinson", **kw)
  m = int(est.num_matvecs)
  assert m == (48 if adaptive else 5)
  z = np.asarray(random_vectors(key, 0, m, jax.ShapeDtypeStruct((n,), jnp.float64)))
  q = np.einsum("ij,jk,ik->i", z, np.asarray(a), z)
  assert int(est.dof) == m - 1
  np.testing.assert_allclose([float(est.value), float(est.stderr)], [q.mean(), q.std(ddof=1) / np.sqrt(m)],
                             rtol=1e-10)


def test_hutchpp_is_the_sketched_trace_plus_hutchinson_on_the_deflated_operator(x64):
  """Brute force with the same random vectors: 12 matvecs give k = 4 sketch vectors, Q = orth(A S), and r = 4
  residual vectors g − QQᵀg; value tr(QᵀAQ) + mean, SE s/√r on r − 1 dof. With only rtol the sketch is 10 (the
  documented default)."""
  n = 12
  rng = np.random.default_rng(6)
  basis, _ = np.linalg.qr(rng.standard_normal((n, n)))
  a = (basis * np.arange(1, n + 1) ** -1.0) @ basis.T
  key = jax.random.key(7)
  est = trace_estimate(lambda v: jnp.asarray(a) @ v, jnp.zeros(n), key, method="hutchpp", num_matvecs=12)
  key_sketch, key_resid = jax.random.split(key)
  struct = jax.ShapeDtypeStruct((n,), jnp.float64)
  q, _ = np.linalg.qr(a @ np.asarray(random_vectors(key_sketch, 0, 4, struct)).T)
  g = np.asarray(random_vectors(key_resid, 0, 4, struct)).T
  d = g - q @ (q.T @ g)
  samples = np.einsum("ij,ik,kj->j", d, a, d)
  assert (int(est.num_matvecs), int(est.dof)) == (12, 3)
  np.testing.assert_allclose([float(est.value), float(est.stderr)],
                             [np.trace(q.T @ a @ q) + samples.mean(), samples.std(ddof=1) / 2], rtol=1e-10)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    adaptive = trace_estimate(lambda v: jnp.asarray(a) @ v, jnp.zeros(n), key, method="hutchpp", rtol=1e-12,
                              max_matvecs=40)
  assert int(adaptive.num_matvecs) - int(adaptive.dof) - 1 == 2 * 10


def test_t_quantile_is_the_cornish_fisher_series_to_its_own_accuracy(x64):
  """From 10 dof on, the truncated series is within 5e-6 of scipy.stats.t.ppf(0.975, dof) (values copied here): a
  wrong coefficient or power in any term of it is far outside that."""
  dof = np.array([10, 15, 20, 30, 60, 100, 1000])
  table = np.array([2.228138851986274, 2.131449545559776, 2.085963447265864, 2.0422724563012378,
                    2.0002978220142604, 1.9839715185235518, 1.9623390808264083])
  np.testing.assert_allclose(np.asarray(t_quantile_975(dof)), table, rtol=5e-6)
