"""A training run's checkpoint save: the state copied to host memory first (what `Checkpointer.save` does in a
single process) against Orbax's device-array path, same state, same run.

    python benchmarks/bench_checkpoint.py [--sizes=xs,s,m] [--saves=10] [--rounds=3]

For each arm of configs/model_size.py (pcfg; cpu_xs, cpu_s, cpu_m): the fresh training state (parameters, AdamW's
moments, step) saved `--saves` times by a `flatness_jax.rundir.checkpoints.Checkpointer` with `host_save=False`
(Orbax slices and transfers each device array: the reference) and with `host_save=True` (one `jax.device_get` of
the state, then Orbax's numpy path), in `--rounds` interleaved rounds, the best of each kept. Each save is the
whole `Checkpointer.save` (non-finite check, Orbax's atomic write, checksums, keep policy). Prints ms per save,
process CPU ms per save, the ratio reference / host, and what the difference comes to over the 39 saves of a
6,000-step run (schedule.checkpoint_steps at checkpoint.every = 200). Also checks that both write the same values.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import cli  # pylint: disable=g-import-not-at-top,wrong-import-position


def parse():
  p = argparse.ArgumentParser()
  p.add_argument("--sizes", default="xs,s,m", help="arms of configs/model_size.py")
  p.add_argument("--saves", type=cli.positive_int, default=10, help="saves per timing")
  p.add_argument("--rounds", type=cli.positive_int, default=3, help="interleaved rounds (the best of each kept)")
  return p.parse_args()


def main():
  args = parse()
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from experiments.configs import model_size  # pylint: disable=g-import-not-at-top
  from flatness_jax.rundir import checkpoints  # pylint: disable=g-import-not-at-top
  from flatness_jax.train import arms, schedule, trainer as trainer_lib  # pylint: disable=g-import-not-at-top

  base = model_size.get_config("pcfg")
  base.seeds = 1
  configs = arms.run_configs(base)
  per_run = len(schedule.checkpoint_steps(200, 6000))  # the cpu tier's checkpoint.every, a 6,000-step run
  print(f"jax {jax.__version__}, {jax.process_count()} process, saves={args.saves}, rounds={args.rounds}; "
        f"a 6,000-step run saves {per_run} checkpoints")
  root = tempfile.mkdtemp(prefix="bench_checkpoint_")
  rows = []
  try:
    for size in args.sizes.split(","):
      cfg = configs[size]
      state = trainer_lib.Trainer(cfg).fresh_state()
      leaves = jax.tree.leaves(state)
      nbytes = sum(x.nbytes for x in leaves)
      best = {}
      for r in range(args.rounds):
        for name, host in (("device", False), ("host", True)):
          d = os.path.join(root, f"{size}_{name}_{r}")
          ck = checkpoints.Checkpointer(d, keep_period=1, max_to_keep=1, host_save=host)
          ck.save(0, state)  # the first save creates the directory and Orbax's metadata: not timed
          t, c = time.perf_counter(), time.process_time()
          for s in range(1, args.saves + 1):
            ck.save(s, state)
          wall, cpu = (time.perf_counter() - t) / args.saves, (time.process_time() - c) / args.saves
          ck.close()
          if name not in best or wall < best[name][0]:
            best[name] = (wall, cpu, d)
      same = all(np.array_equal(a, b) for a, b in zip(
          jax.tree.leaves(checkpoints.restore_params(best["device"][2], args.saves)),
          jax.tree.leaves(checkpoints.restore_params(best["host"][2], args.saves))))
      rows.append((size, len(leaves), nbytes, best, same))
      print(f"  {size}: device {best['device'][0] * 1e3:.0f} ms, host {best['host'][0] * 1e3:.0f} ms", flush=True)
  finally:
    shutil.rmtree(root, ignore_errors=True)
  print("\n| arm | leaves | MB | device path ms/save (CPU ms) | host copy ms/save (CPU ms) | device / host | "
        f"s saved per 6,000-step run ({per_run} saves) | same values |")
  print("|---|---|---|---|---|---|---|---|")
  for size, n, nbytes, best, same in rows:
    (dw, dc, _), (hw, hc, _) = best["device"], best["host"]
    print(f"| {size} | {n} | {nbytes / 1e6:.2f} | {dw * 1e3:.0f} ({dc * 1e3:.0f}) | {hw * 1e3:.0f} ({hc * 1e3:.0f}) | "
          f"{dw / hw:.2f}x | {(dw - hw) * per_run:.1f} | {'yes' if same else 'NO'} |")
  if not all(row[-1] for row in rows):
    sys.exit("bench_checkpoint: the two paths wrote different values")


if __name__ == "__main__":
  main()
