"""Runs trained one after the other against at once on N host threads (parallel.concurrent_runs=N,
flatness_jax.jobs.concurrent_runs), same cores, same run.

    python benchmarks/bench_concurrent.py [--cells=pcfg:xs,pcfg:s,pcfg:m,lm:s] [--at-once=2] [--chunks=8] [--rounds=3]

For each language:arm cell and each N of `--at-once` (e.g. 2,3,4): seeds 0 … N−1 of that arm of
`configs/model_size.py:LANG` (batch 256), `--chunks` chunks each of `Trainer.run_chunk` (the code the loop runs, the
next chunk's data drawn on the feed thread) trained sequentially, then on N threads at once, in `--rounds`
interleaved rounds (the best of each kept). Prints ms per seed-step and the ratio sequential / at once; with several
N, also each N's at-once time against the first N's (does a third run at once gain on two cores?). Compilation is
excluded (one warm-up chunk per run).
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import cli  # pylint: disable=g-import-not-at-top,wrong-import-position


def parse():
  p = argparse.ArgumentParser()
  p.add_argument("--cells", default="pcfg:xs,pcfg:s,pcfg:m,lm:s")
  p.add_argument("--at-once", default="2", help="runs at once, comma-separated (e.g. 2,3,4)")
  p.add_argument("--chunks", type=cli.positive_int, default=8)
  p.add_argument("--rounds", type=cli.positive_int, default=3)
  args = p.parse_args()
  try:
    args.at_once = [int(n) for n in args.at_once.split(",")]
  except ValueError:
    p.error(f"--at-once must be comma-separated integers, got {args.at_once!r}")
  if min(args.at_once) < 2:
    p.error(f"--at-once: each count must be >= 2 (runs at once), got {args.at_once}")
  return args


def measure(language: str, arm: str, chunks: int, rounds: int, counts=(2,)) -> dict:
  """{N: {'sequential': ms, 'at once': ms}}: best ms per seed-step of N runs trained sequentially and at once."""
  from experiments.configs import model_size  # pylint: disable=g-import-not-at-top
  from flatness_jax.train import arms, trainer as trainer_lib  # pylint: disable=g-import-not-at-top

  most = max(counts)
  configs = arms.run_configs(model_size.get_config(f"{language},seeds={most}"))
  trainers = [trainer_lib.Trainer(configs[f"{arm}/seed_{k}"]) for k in range(most)]
  k = trainers[0].config.train.steps_per_call
  states = [t.fresh_state() for t in trainers]
  steps = [0] * most

  def train(i):
    for _ in range(chunks):
      states[i], _ = trainers[i].run_chunk(states[i], steps[i], steps[i] + k)
      steps[i] += k
    trainers[i].feed.get(steps[i], steps[i] + k)  # the last prefetched chunk is drawn within the timing
    steps[i] += k

  def sequential(n):
    t = time.perf_counter()
    for i in range(n):
      train(i)
    return time.perf_counter() - t

  def at_once(n):
    t = time.perf_counter()
    threads = [threading.Thread(target=train, args=(i,)) for i in range(n)]
    for th in threads:
      th.start()
    for th in threads:
      th.join()
    return time.perf_counter() - t

  for i in range(most):  # compiles each run's chunk
    states[i], _ = trainers[i].run_chunk(states[i], 0, k)
    trainers[i].feed.get(k, 2 * k)
    steps[i] = 2 * k
  best = {n: {"sequential": [], "at once": []} for n in counts}
  for _ in range(rounds):
    for n in counts:
      best[n]["sequential"].append(sequential(n))
      best[n]["at once"].append(at_once(n))
  return {n: {name: 1e3 * min(v) / (n * chunks * k) for name, v in b.items()} for n, b in best.items()}


def main():
  args = parse()
  import jax  # pylint: disable=g-import-not-at-top
  print(f"jax {jax.__version__} {jax.devices()}, cores {len(os.sched_getaffinity(0))}, chunks={args.chunks}, "
        f"rounds={args.rounds} (best kept)")
  print(f"{'cell':10s} {'runs':>4s} {'sequential':>11s} {'at once':>9s}  sequential/at once"
        + (f"  at once vs {args.at_once[0]} at once" if len(args.at_once) > 1 else "")
        + "  (ms per seed-step, batch 256)")
  for cell in args.cells.split(","):
    language, arm = cell.split(":")
    r = measure(language, arm, args.chunks, args.rounds, args.at_once)
    first = r[args.at_once[0]]["at once"]
    for n in args.at_once:
      extra = f"  {first / r[n]['at once']:.2f}x" if len(args.at_once) > 1 else ""
      print(f"{cell:10s} {n:4d} {r[n]['sequential']:11.2f} {r[n]['at once']:9.2f}  "
            f"{r[n]['sequential'] / r[n]['at once']:.2f}x{extra}", flush=True)


if __name__ == "__main__":
  main()
