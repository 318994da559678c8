"""Two seeds of one arm started at once (parallel.concurrent_runs = 2): their first training chunk with each run
compiling its own program, against one executable shared between them (flatness_jax.parallel.shared_programs).

    python benchmarks/bench_shared_compile.py [--sizes=cpu_xs,cpu_s] [--rounds=1]

For each size (an arm of configs/quickstart.py): seeds 0 and 1 as two Trainers, each with its own jitted chunk,
call `Trainer.run_chunk` on two threads released together: the wall until both chunks are done (compilation
included: no persistent compilation cache, in-memory caches cleared before each pass), the XLA compilations of the
training chunk and their thread-seconds. 'separate' is each trainer's plain jax.jit (the code before sharing);
'shared' the code the loop runs. Prints both and the ratio shared / separate; the two passes' metrics must be
equal (same bytes).
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import cli  # pylint: disable=g-import-not-at-top,wrong-import-position

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def parse():
  p = argparse.ArgumentParser()
  p.add_argument("--sizes", default="cpu_xs,cpu_s", help="arms of configs/quickstart.py (or cpu_tiny with --tiny)")
  p.add_argument("--tiny", action="store_true", help="configs/quickstart.py:tiny (a smoke run)")
  p.add_argument("--rounds", type=cli.positive_int, default=1, help="passes of each mode, interleaved (the best kept)")
  return p.parse_args()


def first_chunks(size: str, tiny: bool, shared: bool) -> tuple:
  """(wall s, chunk compilations, their compile thread-seconds, metrics rows) of the first chunk of seeds 0 and 1
  of `size`, called at once on two threads."""
  import jax  # pylint: disable=g-import-not-at-top
  from experiments.configs import quickstart  # pylint: disable=g-import-not-at-top
  from flatness_jax.parallel import shared_programs  # pylint: disable=g-import-not-at-top
  from flatness_jax.train import arms, step as step_lib, trainer as trainer_lib  # pylint: disable=g-import-not-at-top

  config = quickstart.get_config("tiny,seeds=2" if tiny else "seeds=2")
  config.run_arms = size
  jax.clear_caches()
  shared_programs.clear()
  original = step_lib.shared_programs.shared
  if not shared:
    step_lib.shared_programs.shared = lambda jitted, devices: jitted
  try:
    trainers = [trainer_lib.Trainer(arms.resolve_run_config(r), "") for r in arms.run_configs(config).values()]
  finally:
    step_lib.shared_programs.shared = original
  states = [t.fresh_state() for t in trainers]
  n = trainers[0].config.train.steps_per_call
  jax.block_until_ready(states)
  compiles = []
  listener = lambda e, s, **kw: compiles.append(s) if e == COMPILE_EVENT and kw.get("fun_name") == "jit(chunk)" \
      else None
  jax.monitoring.register_event_duration_secs_listener(listener)
  start, rows = threading.Barrier(2), [None, None]

  def train(i):
    start.wait()
    rows[i] = trainers[i].run_chunk(states[i], 0, n)[1]
  threads = [threading.Thread(target=train, args=(i,)) for i in range(2)]
  t0 = time.perf_counter()
  try:
    for t in threads:
      t.start()
    for t in threads:
      t.join()
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
  wall = time.perf_counter() - t0
  return wall, len(compiles), sum(compiles), rows


def main():
  args = parse()
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update("jax_enable_compilation_cache", False)
  print("| size | mode | first chunk of 2 runs at once, wall s | chunk compilations | compile thread-s | same metrics |")
  print("|---|---|---|---|---|---|")
  for size in args.sizes.split(","):
    best = {}
    for _ in range(args.rounds):
      for mode in ("separate", "shared"):
        out = first_chunks(size, args.tiny, mode == "shared")
        if mode not in best or out[0] < best[mode][0]:
          best[mode] = out
    for mode, (wall, count, seconds, _) in best.items():
      print(f"| {size} | {mode} | {wall:.2f} | {count} | {seconds:.2f} | |")
    same = best["separate"][3] == best["shared"][3]
    print(f"| {size} | shared / separate | {best['shared'][0] / best['separate'][0]:.2f}× | | "
          f"{best['shared'][2] / max(best['separate'][2], 1e-9):.2f}× | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
  main()
