"""Two runs trained one after the other against at once on two host threads (parallel.concurrent_runs=2,
flatness_jax.jobs.concurrent_runs), same cores, same run.

    python benchmarks/bench_concurrent.py [--cells=pcfg:xs,pcfg:s,pcfg:m,lm:s] [--chunks=8] [--rounds=3]

For each language:arm cell: seeds 0 and 1 of that arm of `configs/model_size.py:LANG` (batch 256), `--chunks` chunks
each of `Trainer.run_chunk` (the code the loop runs, the next chunk's data drawn on the feed thread) trained
sequentially, then on two threads at once, in `--rounds` interleaved rounds (the best of each kept). Prints ms per
seed-step and the ratio sequential / at once. Compilation is excluded (one warm-up chunk per run).
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse():
  p = argparse.ArgumentParser()
  p.add_argument("--cells", default="pcfg:xs,pcfg:s,pcfg:m,lm:s")
  p.add_argument("--chunks", type=int, default=8)
  p.add_argument("--rounds", type=int, default=3)
  args = p.parse_args()
  if args.chunks < 1 or args.rounds < 1:
    p.error("--chunks and --rounds must be >= 1")
  return args


def measure(language: str, arm: str, chunks: int, rounds: int) -> dict:
  """Best ms per seed-step of two runs trained sequentially and at once."""
  from experiments.configs import model_size  # pylint: disable=g-import-not-at-top
  from flatness_jax.train import arms, trainer as trainer_lib  # pylint: disable=g-import-not-at-top

  configs = arms.run_configs(model_size.get_config(f"{language},seeds=2"))
  trainers = [trainer_lib.Trainer(configs[f"{arm}/seed_{k}"]) for k in range(2)]
  k = trainers[0].config.train.steps_per_call
  states = [t.fresh_state() for t in trainers]
  steps = [0, 0]

  def train(i):
    for _ in range(chunks):
      states[i], _ = trainers[i].run_chunk(states[i], steps[i], steps[i] + k)
      steps[i] += k
    trainers[i].feed.get(steps[i], steps[i] + k)  # the last prefetched chunk is drawn within the timing
    steps[i] += k

  def sequential():
    t = time.perf_counter()
    train(0)
    train(1)
    return time.perf_counter() - t

  def at_once():
    t = time.perf_counter()
    threads = [threading.Thread(target=train, args=(i,)) for i in range(2)]
    for th in threads:
      th.start()
    for th in threads:
      th.join()
    return time.perf_counter() - t

  for i in range(2):  # compiles each run's chunk
    states[i], _ = trainers[i].run_chunk(states[i], 0, k)
    trainers[i].feed.get(k, 2 * k)
    steps[i] = 2 * k
  best = {"sequential": [], "at once": []}
  for _ in range(rounds):
    best["sequential"].append(sequential())
    best["at once"].append(at_once())
  return {name: 1e3 * min(v) / (2 * chunks * k) for name, v in best.items()}


def main():
  args = parse()
  import jax  # pylint: disable=g-import-not-at-top
  print(f"jax {jax.__version__} {jax.devices()}, cores {len(os.sched_getaffinity(0))}, chunks={args.chunks}, "
        f"rounds={args.rounds} (best kept)")
  print(f"{'cell':10s} {'sequential':>11s} {'at once':>9s}  sequential/at once  (ms per seed-step, batch 256)")
  for cell in args.cells.split(","):
    language, arm = cell.split(":")
    r = measure(language, arm, args.chunks, args.rounds)
    print(f"{cell:10s} {r['sequential']:11.2f} {r['at once']:9.2f}  {r['sequential'] / r['at once']:.2f}x",
          flush=True)


if __name__ == "__main__":
  main()
