"""The training loop's feed: a chunk's data drawn inline before it trains against drawn on the feed thread while the
previous chunk trains (flatness_jax.train.feed.Prefetch), same cores, same run.

    python benchmarks/bench_feed.py [--languages=lm,pcfg] [--chunks=10] [--rounds=3]

For each language: the cpu_s run of `configs/continued.py:LANG` (batch 256), `--chunks` chunks of `Trainer.run_chunk`
(the code the loop runs) with `trainer.prefetch` off and on, in `--rounds` interleaved rounds (the best of each
kept), and the two parts alone: drawing a chunk's data (`Trainer.host_batches`) and training on data already drawn.
Prints ms per step and the ratio inline / prefetched; the floor of the prefetched loop is the slower of the two
parts (they overlap when the cores allow: 2 cores here). Compilation is excluded (one warm-up chunk).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import cli  # pylint: disable=g-import-not-at-top,wrong-import-position


def parse():
  p = argparse.ArgumentParser()
  p.add_argument("--languages", default="lm,pcfg")
  p.add_argument("--chunks", type=cli.positive_int, default=10)
  p.add_argument("--rounds", type=cli.positive_int, default=3)
  return p.parse_args()


def measure(language: str, chunks: int, rounds: int) -> dict:
  """Best ms per step of: the loop inline, the loop prefetched, drawing alone, training alone."""
  import jax  # pylint: disable=g-import-not-at-top
  from experiments.configs import continued  # pylint: disable=g-import-not-at-top
  from flatness_jax.train import arms, feed, trainer as trainer_lib  # pylint: disable=g-import-not-at-top

  config = arms.run_configs(continued.get_config(f"{language},seeds=1"))["cpu_s"]
  trainer = trainer_lib.Trainer(config)
  k = config.train.steps_per_call
  holder = [trainer.fresh_state()]
  step = [0]

  def loop(prefetch: bool):
    trainer.prefetch = prefetch
    t = time.perf_counter()
    for _ in range(chunks):
      holder[0], _ = trainer.run_chunk(holder[0], step[0], step[0] + k)
      step[0] += k
    trainer.feed.get(step[0], step[0] + k)  # the last prefetched chunk is drawn within the timing
    step[0] += k
    return time.perf_counter() - t

  def draw():
    t = time.perf_counter()
    for i in range(chunks):
      trainer.host_batches(step[0] + i * k, step[0] + (i + 1) * k)
    step[0] += chunks * k
    return time.perf_counter() - t

  fixed = trainer.host_batches(0, k)

  def train():
    t = time.perf_counter()
    for _ in range(chunks):
      holder[0], m = trainer.train_chunk(holder[0], feed.to_global(fixed[0], trainer.data_sharding),
                                         feed.to_global(fixed[1], trainer.data_sharding), k, trainer.mask_key)
      jax.device_get(m)
    return time.perf_counter() - t

  loop(False)  # compiles the chunk
  best = {"inline": [], "prefetched": [], "draw": [], "train": []}
  for _ in range(rounds):
    best["inline"].append(loop(False))
    best["prefetched"].append(loop(True))
    best["draw"].append(draw())
    best["train"].append(train())
  return {name: 1e3 * min(v) / (chunks * k) for name, v in best.items()}


def main():
  args = parse()
  import jax  # pylint: disable=g-import-not-at-top
  print(f"jax {jax.__version__} {jax.devices()}, cores {len(os.sched_getaffinity(0))}, chunks={args.chunks}, "
        f"rounds={args.rounds} (best kept)")
  print(f"{'language':10s} {'inline':>9s} {'prefetched':>11s} {'draw':>8s} {'train':>8s}  inline/prefetched  "
        "(ms per step, cpu_s, batch 256)")
  for language in args.languages.split(","):
    r = measure(language, args.chunks, args.rounds)
    print(f"{language:10s} {r['inline']:9.2f} {r['prefetched']:11.2f} {r['draw']:8.2f} {r['train']:8.2f}  "
          f"{r['inline'] / r['prefetched']:.2f}x  (floor max(draw, train): {max(r['draw'], r['train']):.2f})")


if __name__ == "__main__":
  main()
