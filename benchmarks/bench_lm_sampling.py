"""Drawing the LM language's training sentences: the sampler's key/value buffer in the decoder's cache layout
against the [B, P, H, hd] layout, and both against the training chunk they feed, same process.

    python benchmarks/bench_lm_sampling.py [--steps=20] [--rounds=3]

The cpu-tier LM language (configs/model_size.py:lm, its s arm): one training chunk's data is `--steps` draws of
256 sentences (`LMLanguage.decoder_ids` with each step's data key: what `Trainer.host_batches` draws on the feed
thread while the previous chunk trains), timed with `layout=CACHE_LAYOUT` (what the language samples with) and with
`layout=PAST_LAYOUT` (the reference), in `--rounds` interleaved rounds, the best of each kept; checks that both draw
the same sentences, bit for bit. Then the s arm's training chunk of the same steps (`Trainer.run_chunk` without
prefetch, data drawn beforehand): when the draw takes longer than the chunk, an LM run waits on its data. Prints
ms per chunk and the ratios. Compilation excluded (one warm-up call each).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import cli  # pylint: disable=g-import-not-at-top,wrong-import-position


def parse():
  p = argparse.ArgumentParser()
  p.add_argument("--steps", type=cli.positive_int, default=20,
                 help="training steps per chunk (the cpu tier's steps_per_call)")
  p.add_argument("--rounds", type=cli.positive_int, default=3, help="interleaved rounds (the best of each kept)")
  return p.parse_args()


def main():
  args = parse()
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from experiments.configs import model_size  # pylint: disable=g-import-not-at-top
  from flatness_jax.decoder.opt import CACHE_LAYOUT, PAST_LAYOUT  # pylint: disable=g-import-not-at-top
  from flatness_jax.train import arms, trainer as trainer_lib  # pylint: disable=g-import-not-at-top

  base = model_size.get_config("lm")
  base.seeds = 1
  cfg = arms.run_configs(base)["s"]
  trainer = trainer_lib.Trainer(cfg)
  trainer.prefetch = False
  lang, batch = trainer.language, cfg.train.batch_size
  keys = [jax.random.fold_in(trainer.data_key, 1000 + s) for s in range(args.steps)]  # the steps' data keys

  def draw(layout):
    return [lang.decoder_ids(k, batch, layout)[0] for k in keys]

  same = all(np.array_equal(a, b) for a, b in zip(draw(CACHE_LAYOUT), draw(PAST_LAYOUT)))  # also compiles both
  state = trainer.fresh_state()
  a = cfg.train.steps_per_call * 50
  state, _ = trainer.run_chunk(state, a, a + args.steps)  # compiles the chunk

  def timed(fn):
    t = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t

  best = {"cache": np.inf, "past": np.inf, "train": np.inf}
  for r in range(args.rounds):
    best["cache"] = min(best["cache"], timed(lambda: draw(CACHE_LAYOUT)))
    best["past"] = min(best["past"], timed(lambda: draw(PAST_LAYOUT)))
    b = a + args.steps * (r + 1)
    trainer.feed.start(b, b + args.steps)  # drawn on the feed thread and finished before the timing
    trainer.feed.pending[(b, b + args.steps)].result()
    t = time.perf_counter()
    state, _ = trainer.run_chunk(state, b, b + args.steps)
    jax.block_until_ready(state.params)
    best["train"] = min(best["train"], time.perf_counter() - t)
  print(f"jax {jax.__version__}; LM language {lang.name}: {args.steps} steps × {batch} sentences of ≤ "
        f"{lang.max_length} tokens; rounds={args.rounds}")
  print("\n| what | ms per chunk | vs cache layout |")
  print("|---|---|---|")
  print(f"| draw, buffer [B, P, H, hd] (reference) | {best['past'] * 1e3:.0f} | {best['past'] / best['cache']:.2f}x |")
  print(f"| draw, cache layout (the language's) | {best['cache'] * 1e3:.0f} | 1.00x |")
  print(f"| training chunk of the s arm (data drawn) | {best['train'] * 1e3:.0f} | "
        f"{best['train'] / best['cache']:.2f}x |")
  print(f"\nsame sentences from both layouts: {'yes' if same else 'NO'}")
  if not same:
    sys.exit("bench_lm_sampling: the two buffer layouts drew different sentences")


if __name__ == "__main__":
  main()
