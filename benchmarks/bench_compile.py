"""Cold XLA compilation of one architecture's programs: each curvature program the quickstart measures a checkpoint
with, and the probes, against the training program of the same model compiled in the same process.

    python benchmarks/bench_compile.py [--sizes=cpu_xs,cpu_s]

For each size (an arm of configs/quickstart.py, its language and curvature/probe settings): trains
`train.steps_per_call` steps into a temporary run directory (the reference: the seconds XLA spends compiling the
training chunk, read from JAX's compile events as flatness_jax.jobs.timing records them), then measures that
checkpoint's curvature twice with flatness_jax.eval.curvature.Measurer, each of its compiled programs timed as its
own stage: cold (trace + lower, XLA compile, wall) and warm (the arithmetic alone); then its probes, cold. Prints per
program its compile seconds and their multiple of the training compile, and the totals. No persistent compilation
cache is read or written (the process starts with an empty one): the cold quickstart's compile.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse():
  p = argparse.ArgumentParser()
  p.add_argument("--sizes", default="cpu_xs,cpu_s", help="arms of configs/quickstart.py")
  return p.parse_args()


def _staged(times, name, fn):
  """`fn` whose calls are timed as stage `name` (results ready before the stage ends)."""
  import jax  # pylint: disable=g-import-not-at-top

  def call(*args, **kwargs):
    with times.stage(name):
      return jax.block_until_ready(fn(*args, **kwargs))
  return call


def _instrument(measurer, times):
  """Replaces each compiled program of a Measurer by itself timed as a stage of its own name."""
  m = measurer
  m.mean_loss = _staged(times, "mean loss", m.mean_loss)
  m.traces = {k: _staged(times, f"Tr(H) {k}", f) for k, f in m.traces.items()}
  m.fisher = _staged(times, "Fisher trace", m.fisher)
  m.lanczos = _staged(times, "λmax (Lanczos)", m.lanczos)
  m.downstream = _staged(times, "downstream Tr(H)", m.downstream)
  m.downstream_loss = _staged(times, "downstream loss", m.downstream_loss)
  m.sharpness = {k: _staged(times, f"sharpness {k}", f) for k, f in m.sharpness.items()}


def measure(size: str) -> tuple:
  """(training compile s, {program: (compile s, trace s, cold wall s, warm wall s)}) of one quickstart arm."""
  import jax  # pylint: disable=g-import-not-at-top
  from experiments.configs import quickstart  # pylint: disable=g-import-not-at-top
  from flatness_jax.eval import curvature as curvature_lib  # pylint: disable=g-import-not-at-top
  from flatness_jax.jobs import pipeline, probes as probes_job, timing  # pylint: disable=g-import-not-at-top
  from flatness_jax.rundir import rundir  # pylint: disable=g-import-not-at-top

  config = quickstart.get_config()
  if size not in config.arms:
    raise SystemExit(f"--sizes: {size!r} is not an arm of configs/quickstart.py ({list(config.arms)})")
  config.run_arms, config.stages = size, "train"
  config.arms[size].train.num_steps = config.train.steps_per_call
  config.checkpoint.every = config.train.steps_per_call
  config.optimizer.warmup_steps = 0  # (the schedule's constants only: the same programs as the full recipe)
  times = timing.StageTimes()
  work = tempfile.mkdtemp(prefix="bench_compile_")
  with times.stage("training"):
    pipeline.run_quickstart(config, work)
  run = rundir.RunDir(os.path.join(work, size))
  step = run.select_steps("last")[0]
  measurer = curvature_lib.Measurer(run, config.curvature)
  _instrument(measurer, times)
  passes = []  # (the checkpoint's own entry, {program: entry}) of the cold and the warm pass
  for _ in ("cold", "warm"):
    with times.stage("checkpoint"):
      measurer.measure(step, jax.random.key(0))
    # A stage inside another takes its own events and wall: the checkpoint's own entry is what ran outside the
    # programs (task data, features, the probe head). Popped, so the warm pass starts every stage afresh.
    outside = times.stages.pop("checkpoint")
    passes.append((outside, {n: times.stages.pop(n) for n in list(times.stages) if n != "training"}))
  with times.stage("probes (whole job)"):
    config.probes.steps = "last"
    probes_job.run_probes(config, run.workdir)
  times.close()
  (cold, cold_programs), (warm, warm_programs) = passes
  out = {n: (e["compile"], e["trace"], e["wall"], warm_programs[n]["wall"]) for n, e in cold_programs.items()}

  def outside_wall(entry, programs):
    return entry["wall"] - sum(e["wall"] for e in programs.values())
  out["the rest (task data, features, probe head)"] = (cold["compile"], cold["trace"],
                                                       outside_wall(cold, cold_programs),
                                                       outside_wall(warm, warm_programs))
  out["curvature, whole checkpoint"] = tuple(cold[k] + sum(e[k] for e in cold_programs.values())
                                             for k in ("compile", "trace")) + (cold["wall"], warm["wall"])
  probes = times.stages["probes (whole job)"]
  out["probes (whole job)"] = (probes["compile"], probes["trace"], probes["wall"], float("nan"))
  return times.stages["training"]["compile"], out


def main():
  args = parse()
  import jax  # pylint: disable=g-import-not-at-top
  if jax.config.jax_compilation_cache_dir:
    raise SystemExit("a persistent compilation cache is set: unset JAX_COMPILATION_CACHE_DIR for a cold measurement")
  print(f"jax {jax.__version__} {jax.devices()}, cores {len(os.sched_getaffinity(0))}; cold: empty caches")
  for size in args.sizes.split(","):
    t0 = time.time()
    train_compile, rows = measure(size)
    print(f"\n{size}: training chunk compiled in {train_compile:.2f} s (the reference); "
          f"{time.time() - t0:.0f} s in all")
    print("| program | XLA compile s | × training compile | trace + lower s | cold wall s | warm wall s |")
    print("|---|---|---|---|---|---|")
    parts = [(n, r) for n, r in rows.items() if n not in ("curvature, whole checkpoint", "probes (whole job)")]
    for name, (comp, trace, wall, warm) in sorted(parts, key=lambda kv: -kv[1][0]):
      print(f"| {name} | {comp:.2f} | {comp / train_compile:.2f}× | {trace:.2f} | {wall:.2f} | {warm:.2f} |")
    for name in ("curvature, whole checkpoint", "probes (whole job)"):
      comp, trace, wall, warm = rows[name]
      print(f"| **{name}** | {comp:.2f} | {comp / train_compile:.2f}× | {trace:.2f} | {wall:.2f} | {warm:.2f} |")


if __name__ == "__main__":
  main()
