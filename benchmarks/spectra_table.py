"""Error and 95%-interval coverage of the trace estimators on synthetic spectra (markdown table).

    python benchmarks/spectra_table.py                    # n=1000, 500 seeds, float64: ≈ 5–10 min on 2 CPU cores
    python benchmarks/spectra_table.py --seeds 200 --budgets 30,60

For each spectrum (flatness_curvature/synthetic.py: λᵢ = i^-2, i^-1, i^-0.5 and an alternating-sign indefinite
one, random orthogonal eigenbasis, n = 1000), each method and each budget of matvecs, every cell is
"median relative error · coverage of the reported 95% interval · mean SE / RMSE" over the seeds (the last number is
the calibration of the error bar: ≈ 1 calibrated, < 1 optimistic, > 1 conservative). "xtrace (authors' SE)" is the
same estimates as "xtrace" with the error bar std(t̂ᵢ)/√s of Epperly et al. instead of our jackknife.
"""
import argparse
import functools
import time

import jax

from flatness_curvature import synthetic, trace_estimate

METHODS = {
    "hutchinson": dict(method="hutchinson"),
    "hutchpp": dict(method="hutchpp"),
    "xtrace": dict(method="xtrace"),
    "xtrace (authors' SE)": dict(method="xtrace", xtrace_error="xtrace"),
}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--n", type=int, default=1000)
  parser.add_argument("--seeds", type=int, default=500)
  parser.add_argument("--budgets", default="12,30,60,120,240")
  parser.add_argument("--spectra", default=",".join(synthetic.SPECTRA))
  args = parser.parse_args()
  jax.config.update("jax_enable_x64", True)
  budgets = [int(b) for b in args.budgets.split(",")]
  start = time.time()
  print(f"n = {args.n}, {args.seeds} seeds, float64; cell = median rel. error · coverage of 95% CI · mean SE/RMSE\n")
  print("| spectrum | method | " + " | ".join(f"{b} matvecs" for b in budgets) + " |")
  print("|---|---|" + "---|" * len(budgets))
  for name in args.spectra.split(","):
    matrix = synthetic.random_symmetric(synthetic.spectrum(name, args.n), seed=0)
    for label, kw in METHODS.items():
      cells = []
      for b in budgets:
        est = functools.partial(trace_estimate, num_matvecs=b, chunk_size=b, **kw)
        r = synthetic.coverage_study(est, matrix, args.seeds, seed=1)
        cells.append(f"{r['median_rel_error']:.1e} · {100 * r['coverage']:.1f}% · {r['mean_se_over_rmse']:.2f}")
      print(f"| {name} | {label} | " + " | ".join(cells) + " |", flush=True)
  print(f"\n({time.time() - start:.0f} s)")


if __name__ == "__main__":
  main()
