"""Data-layer throughput: sampling tokens/s and exact-conditional sentences/s against dense per-sentence references.

    python benchmarks/bench_data.py                      # ≈ 1–2 min on 2 CPU cores
    python benchmarks/bench_data.py --grammar_path PATH/rule_deep_mlm.txt --fast 1024

Sampling: `language.sample` for the paper presets (PCFG, HMM) and the released grammar. Exact conditionals
p(x_t = w | x_{−t}) for every position of a sentence: the batched inside–outside of flatness_jax.data
(`PCFGLanguage.masked_conditionals`, on the pruned chart: only the spans where some symbol is reachable at the
sentence's length) against two dense per-sentence numpy references run in the same process on sentences of the same
distribution (flatness_jax.data.reference), run in turns, the best of --repeat rounds kept for each: `dense` sums
the splits of each span with a matrix product and applies the N³ rule tensor once per span (BLAS), `naive` is the
textbook loop with one N³ einsum per (span, split). Throughputs are per second of process CPU time (robust to other
jobs on a shared machine) and of wall time. BLAS runs single-threaded for both sides (OPENBLAS/MKL/OMP_NUM_THREADS
default to 1 here; set them before running to change that).
"""
import argparse
import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
  os.environ.setdefault(_var, "1")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout without installing

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from benchmarks import cli  # pylint: disable=g-import-not-at-top,wrong-import-position
from flatness_jax.data import hmm, pcfg, reference  # pylint: disable=g-import-not-at-top,wrong-import-position
from flatness_jax.data import released as data_released  # pylint: disable=g-import-not-at-top,wrong-import-position


def _timed(fn, *args):
  w, c = time.perf_counter(), time.process_time()
  out = fn(*args)
  return out, time.perf_counter() - w, time.process_time() - c


def bench_sampling(name, language, n):
  language.sample(0, min(n, 1000))  # warm up
  s, wall, cpu = _timed(language.sample, 1, n)
  tokens = int(s.lengths.sum())
  print(f"  {name:28s} {tokens / cpu:14,.0f} tokens/s cpu   {tokens / wall:14,.0f} tokens/s wall"
        f"   ({n} sentences, mean length {s.lengths.mean():.1f})")


def bench_conditionals(name, grammar, n_fast, n_dense, n_naive, repeat=3):
  """Sentences/s of the batched conditionals and the references, each the best of `repeat` rounds run in turn
  (fast, dense, naive, fast, ...), so a change of the machine's load hits both sides of a ratio alike."""
  lang = pcfg.PCFGLanguage(grammar)
  s = lang.sample(7, n_fast)
  lang.masked_conditionals(s.tokens[:lang.batch_size], s.lengths[:lang.batch_size])  # plans and caches
  rules = reference.dense_rules(grammar)
  counts = {k: c for k, c in (("dense", n_dense), ("naive", n_naive)) if c > 0}
  best = dict.fromkeys(["fast", *counts], (np.inf, np.inf))
  err = dict.fromkeys(counts, 0.0)
  for _ in range(repeat):
    lang._cache = (None, None)  # pylint: disable=protected-access
    fast, fw, fc = _timed(lang.masked_conditionals, s.tokens, s.lengths)
    best["fast"] = (min(best["fast"][0], fc), min(best["fast"][1], fw))
    for kind, count in counts.items():
      # Sentences drawn i.i.d.: the first `count` have the same length distribution.
      w0, c0 = time.perf_counter(), time.process_time()
      for i in range(count):
        words = s.tokens[i, :s.lengths[i]]
        out = reference.masked_conditionals_dense(grammar, words, rules, naive=(kind == "naive"))
        err[kind] = max(err[kind], float(np.abs(out - fast[i, :s.lengths[i]]).max()))
      best[kind] = (min(best[kind][0], time.process_time() - c0), min(best[kind][1], time.perf_counter() - w0))
  f_cpu, f_wall = n_fast / best["fast"][0], n_fast / best["fast"][1]
  print(f"  {name}: N={grammar.num_nonterminals} non-terminals, {grammar.num_rules} binary rules, "
        f"V={grammar.vocab_size}, lengths {s.lengths.min()}..{s.lengths.max()} (mean {s.lengths.mean():.1f}); "
        f"best of {repeat} rounds")
  print(f"    {'batched (ours)':16s} {f_cpu:10.1f} sentences/s cpu {f_wall:10.1f} wall   ({n_fast} sentences)")
  for kind, count in counts.items():
    cpu, wall = count / best[kind][0], count / best[kind][1]
    print(f"    {kind + ' reference':16s} {cpu:10.2f} sentences/s cpu {wall:10.2f} wall   "
          f"({count} sentences; max |diff| {err[kind]:.1e})   "
          f"ratio {f_cpu / cpu:7.1f}x cpu, {f_wall / wall:7.1f}x wall")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--grammar_path", default="",
                      help="a local copy of the authors' released grammar (default: as the experiments find it, "
                           "flatness_jax.data.released: $FLATNESS_RELEASED_GRAMMAR, the per-user cache, or a download)")
  parser.add_argument("--sample", type=int, default=100_000, help="sentences per sampling measurement")
  parser.add_argument("--fast", type=int, default=1024, help="sentences for the batched conditionals")
  parser.add_argument("--dense", type=int, default=128, help="sentences for the dense reference (released)")
  parser.add_argument("--naive", type=int, default=16, help="sentences for the textbook reference (released)")
  parser.add_argument("--repeat", type=cli.positive_int, default=3,
                      help="rounds per conditionals measurement (best is kept)")
  args = parser.parse_args()
  start = time.time()
  load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
  print(f"flatness_jax data benchmark: {os.cpu_count()} CPUs, load average {load:.1f}, BLAS threads "
        f"{os.environ['OPENBLAS_NUM_THREADS']}")
  paper_pcfg = pcfg.random_grammar("paper", 0)
  released = None
  try:
    path = data_released.grammar_path(args.grammar_path)
  except (OSError, ValueError) as e:
    print(f"(released grammar skipped: {e})")
  else:
    import warnings  # pylint: disable=g-import-not-at-top
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      released = pcfg.load_grammar(path)
  print("\nsampling")
  bench_sampling("pcfg paper preset", pcfg.PCFGLanguage(paper_pcfg), args.sample)
  bench_sampling("hmm paper preset", hmm.HMMLanguage(hmm.random_hmm("paper", 0)), args.sample)
  if released is not None:
    bench_sampling("released grammar", pcfg.PCFGLanguage(released), args.sample)
  print("\nexact masked conditionals (all positions of each sentence)")
  bench_conditionals("pcfg paper preset", paper_pcfg, args.fast, max(args.dense // 16, 4), 1, args.repeat)
  if released is not None:
    bench_conditionals("released grammar", released, args.fast, args.dense, args.naive, args.repeat)
  print(f"\ntotal {time.time() - start:.0f}s")


if __name__ == "__main__":
  main()
