"""Error of every operator and estimator of flatness_curvature against dense float64 references, as a Markdown table.

    python curvature/benchmarks/error_table.py            # ≈ 2 min on 2 busy CPU cores

Problem: the tests' tanh MLP (tests/tiny_models.py: 68 parameters in a dict, 16 examples, softmax cross-entropy, at
its random initialisation, so the Hessian is indefinite), and a 12-dimensional PSD quadratic for the sharpness
measures. Exact methods: the largest relative error against the reference (matrices compared column by column).
Stochastic methods at a fixed budget, over `--seeds` keys: the median relative error, the mean of |error| / SE (≈ 0.8
for a calibrated Gaussian error bar) and the coverage of the 95% interval (for diagonals: over entries and seeds).
Two readings: fisher_trace's SE counts the sampling of the examples too (it estimates the mean over the population
of inputs), while the reference is the Fisher of these 16 inputs, so its |error|/SE is small by design; XDiag's SE
is the authors' optimistic one (_xdiag.py).
"""
import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import flatness_curvature as fc  # pylint: disable=g-import-not-at-top,wrong-import-position
from flatness_curvature import synthetic  # pylint: disable=g-import-not-at-top,wrong-import-position
from tiny_models import (dense_fisher, dense_hessian, dense_matrix, dense_score_outer, flat, make_mlp,  # noqa: E402
                         mlp_logits, xent)


def rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def exact_rows(params, loss_fn, batch, h):
  x, y = batch
  n = h.shape[0]
  hess = fc.hessian_matvec(loss_fn, params, batch)
  rows = [("Hessian operator (hvp, linearized), all columns", rel(dense_matrix(hess, params), h))]
  ggn = fc.ggn_matvec(lambda p, b: mlp_logits(p, b[0]), lambda z, b: xent(z, b[1]), params, batch)
  fisher = dense_fisher(mlp_logits, params, x)
  rows.append(("GGN operator vs Jᵀ∇²ℓJ (= exact Fisher)", rel(dense_matrix(ggn, params), fisher)))
  rows.append(("Fisher operator, exact", rel(dense_matrix(fc.fisher_matvec(mlp_logits, params, x), params), fisher)))
  key = jax.random.key(0)
  labels = jax.random.categorical(jax.random.fold_in(key, 0), jnp.log(jax.nn.softmax(mlp_logits(params, x))),
                                  shape=(4, x.shape[0]))
  mc = dense_matrix(fc.fisher_matvec(mlp_logits, params, x, key=key, num_samples=4), params)
  rows.append(("Fisher operator, Monte-Carlo (vs Σ g gᵀ of its labels)",
               rel(mc, dense_score_outer(mlp_logits, params, x, np.asarray(labels)))))
  rows.append(("empirical Fisher operator", rel(dense_matrix(fc.empirical_fisher_matvec(mlp_logits, params, batch),
                                                             params), dense_score_outer(mlp_logits, params, x,
                                                                                        np.asarray(y)[None]))))
  lam = np.linalg.eigvalsh(h)
  top = fc.lanczos_eigenvalues(hess, params, key, 3, 40)
  rows.append(("Lanczos, top 3 of 40 steps", rel(top.eigenvalues, lam[::-1][:3])))
  rows.append(("Lanczos, all 68 (68 steps)", rel(fc.lanczos_eigenvalues(hess, params, key, n, n).eigenvalues,
                                                 lam[::-1])))
  full = fc.hessian_trace(loss_fn, params, batch, key, method="hutchpp", num_matvecs=3 * n + 2)
  rows.append(("Hutch++ with a full sketch (3n + 2): tr H", rel(full.value, np.trace(h))))
  rows.append(("uneven batches 5 + 7 + 4, Hutch++ full: tr H of the mean loss",
               rel(fc.hessian_trace(loss_fn, params, [tuple(a[i:j] for a in batch) for i, j in
                                                      ((0, 5), (5, 12), (12, 16))], key, method="hutchpp",
                                    num_matvecs=3 * n + 2).value, np.trace(h))))
  v = jax.tree.map(jnp.ones_like, params)
  cg = fc.inverse_hvp(loss_fn, params, batch, v, damping=1.0, rtol=1e-12, max_iters=300)
  rows.append(("CG (H + I)⁻¹v", rel(flat(cg.x), np.linalg.solve(h + np.eye(n), flat(v)))))
  theta = flat(params)
  rows.append(("Fisher–Rao norm ⟨θ, Fθ⟩", rel(fc.fisher_rao_norm_sq(mlp_logits, params, x).value,
                                              theta @ fisher @ theta)))
  a = synthetic.random_symmetric(np.concatenate([[4.0, 2.0], np.linspace(0.1, 1.0, 10)]), seed=0)
  quad = lambda th, b: 0.5 * th @ (b @ th)  # noqa: E731
  worst = fc.worst_case_sharpness(quad, jnp.zeros(12), jnp.asarray(a), key, 0.1, num_steps=60, step_size=2.0)
  rows.append(("worst-case sharpness, PSD quadratic at its minimum (vs ρ²λmax/2)", rel(worst.value, 0.005 * 4.0)))
  return rows


def z_stats(values, stderrs, exact):
  """(median |error| / |exact|, mean |error| / SE)."""
  values, stderrs, exact = (np.asarray(t, np.float64) for t in (values, stderrs, exact))
  err = np.abs(values - exact)
  return float(np.median(err / np.abs(exact))), float(np.mean(err / stderrs))


def stochastic_rows(params, loss_fn, batch, h, seeds):
  keys = jax.random.split(jax.random.key(1), seeds)
  hess = fc.hessian_matvec(loss_fn, params, batch)
  tr = np.trace(h)
  rows = []

  def trace_row(name, fn, exact):
    est = jax.jit(jax.vmap(fn))(keys)
    lo, hi = (np.asarray(b) for b in est.ci95)
    med, mz = z_stats(est.value, est.stderr, exact)
    rows.append((name, med, mz, float(np.mean((lo <= exact) & (exact <= hi)))))

  for method, m in (("hutchinson", 100), ("hutchpp", 100), ("xtrace", 100)):
    trace_row(f"{method} tr H, {m} products", lambda k, method=method, m=m: fc.hessian_trace(
        loss_fn, params, batch, k, method=method, num_matvecs=m), tr)
  trace_row("Frobenius ‖H‖_F², 100 products", lambda k: fc.frobenius_norm_sq(hess, params, k, num_matvecs=100),
            np.sum(h ** 2))
  x = batch[0]
  fisher = dense_fisher(mlp_logits, params, x)
  trace_row("fisher_trace (sampled labels), 16 examples × 8", lambda k: fc.fisher_trace(
      mlp_logits, params, x, k, num_samples=8), np.trace(fisher))
  for method, m in (("hutchinson", 100), ("xdiag", 100)):
    d = jax.vmap(lambda k, method=method, m=m: tuple(ravel_pytree(t)[0] for t in fc.diagonal_estimate(
        hess, params, k, method=method, num_matvecs=m)[:2]))(keys)
    med = float(np.median(np.linalg.norm(np.asarray(d[0]) - np.diag(h), axis=1) / np.linalg.norm(np.diag(h))))
    z = np.abs(np.asarray(d[0]) - np.diag(h)) / np.asarray(d[1])
    rows.append((f"{method} diagonal, {m} products (per entry)", med, float(np.mean(z)), float(np.mean(z <= 1.96))))
  blocks = {"layer 1": "1", "layer 2": "2"}
  ests = [fc.block_traces(hess, params, blocks, k, num_matvecs=100) for k in keys[:50]]
  for name, regex in blocks.items():
    keep = np.concatenate([np.full(l.size, bool(m)) for l, m in zip(jax.tree.leaves(params), jax.tree.leaves(
        fc.mask_by_regex(params, include=regex)))])
    exact = np.diag(h)[keep].sum()
    med, mz = z_stats([e[name].value for e in ests], [e[name].stderr for e in ests], exact)
    cover = np.mean([(float(e[name].ci95[0]) <= exact <= float(e[name].ci95[1])) for e in ests])
    rows.append((f"block trace '{name}', 100 products (50 seeds)", med, mz, float(cover)))
  slq = [fc.slq_density(hess, params, k, 20, 20).trace() for k in keys[:50]]
  med, mz = z_stats([s.value for s in slq], [s.stderr for s in slq], tr)
  rows.append(("SLQ trace, 20 vectors × 20 steps (50 seeds)", med, mz,
               float(np.mean([float(s.ci95[0]) <= tr <= float(s.ci95[1]) for s in slq]))))
  a = synthetic.random_symmetric(np.concatenate([[4.0, 2.0], np.linspace(0.1, 1.0, 10)]), seed=0)
  quad = lambda th, b: 0.5 * th @ (b @ th)  # noqa: E731
  avg = [fc.average_sharpness(quad, jnp.zeros(12), jnp.asarray(a), k, 0.1, num_samples=64) for k in keys[:50]]
  exact = 0.005 * np.trace(a)
  med, mz = z_stats([e.value for e in avg], [e.stderr for e in avg], exact)
  rows.append(("average-case sharpness, quadratic, 64 pairs (vs ρ²trA/2; 50 seeds)", med, mz,
               float(np.mean([float(e.ci95[0]) <= exact <= float(e.ci95[1]) for e in avg]))))
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--seeds", type=int, default=200)
  args = parser.parse_args()
  params, loss_fn, batch = make_mlp()
  h = dense_hessian(loss_fn, params, batch)[0]
  print(f"# flatness_curvature against dense float64 references (tanh MLP, {h.shape[0]} parameters, tr H = "
        f"{np.trace(h):.4f}, λ ∈ [{np.linalg.eigvalsh(h)[0]:.3f}, {np.linalg.eigvalsh(h)[-1]:.3f}])\n")
  print("| exact method | max relative error |\n|---|---|")
  for name, err in exact_rows(params, loss_fn, batch, h):
    print(f"| {name} | {err:.1e} |")
  print(f"\n| stochastic method ({args.seeds} seeds unless stated) | median rel. error | mean \\|error\\|/SE | "
        "95% CI coverage |\n|---|---|---|---|")
  for name, med, mz, cover in stochastic_rows(params, loss_fn, batch, h, args.seeds):
    print(f"| {name} | {med:.3f} | {mz:.2f} | {100 * cover:.1f}% |")


if __name__ == "__main__":
  main()
