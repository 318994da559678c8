"""Training throughput: our jitted, scanned step against PyTorch replicas of the same model (eager and
torch.compile), same cores.

    pip install -e '.[bench]'        # torch==2.13.0 (CPU wheel) only
    python benchmarks/bench_train.py [--sizes=cpu_s,cpu_m] [--cores=2] [--steps=60]

For each size: tokens/s of (a) flatness_jax's training chunk (`steps_per_call` steps in one jit call: the program the
trainer runs, flatness_jax.train.step.up_to), (b) a scan of one step per call, (c) PyTorch eager AdamW on
benchmarks/torch_reference.TorchBertMLM (identical architecture and parameter count; logits checked equal after
copying our parameters) and (d) the same with the model under torch.compile (inductor), all on the same
pre-sampled batches of the cpu_easy PCFG (batch 256 × 16 tokens). Compilation is excluded (warm-up calls of each
shape; torch.compile's first steps). The four are timed in `--rounds` interleaved rounds and the best of each is
kept (this VM's speed drifts by ±10% between minutes). Prints the ratios ours / PyTorch per size.

Against the floor: each size's FLOPs per training step from XLA's cost analysis of the compiled chunk, the FLOP/s
our scanned step reaches, and that as a fraction of this CPU's matmul peak, measured in the same run as the best
of `--rounds` timings of a jitted float32 GEMM (`--gemm`, 2·n³ FLOPs) interleaved with the rest.
Where the step goes (benchmarks/step_anatomy.py): the step's matrix products read from its lowered program, each
timed alone at its own shapes, with their share of the step's FLOPs, the fraction of the peak those shapes reach, the
ceiling that puts on the step (its FLOPs over the products' time alone), the optimizer update alone, and the share
of the step outside the products; then, per size, the products sorted by time.
`--cores=N` pins this process to N cores before JAX or torch start, and sets torch's threads to N.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import cli  # pylint: disable=g-import-not-at-top,wrong-import-position


def parse():
  p = argparse.ArgumentParser()
  p.add_argument("--sizes", default="cpu_xs,cpu_s,cpu_m")
  p.add_argument("--cores", type=int, default=2)
  p.add_argument("--steps", type=int, default=60, help="timed steps per measurement (multiple of 20)")
  p.add_argument("--batch", type=int, default=256)
  p.add_argument("--rounds", type=cli.positive_int, default=3,
                 help="interleaved timing rounds (the best of each is kept)")
  p.add_argument("--warmup", type=cli.positive_int, default=5,
                 help="torch steps before timing (torch.compile compiles here)")
  p.add_argument("--gemm", type=int, default=2048, help="n of the n×n float32 GEMM that measures the matmul peak")
  return p.parse_args()


def main():
  args = parse()
  os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:args.cores]))
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top

  from benchmarks import step_anatomy, torch_reference  # pylint: disable=g-import-not-at-top
  from experiments.configs import quickstart  # pylint: disable=g-import-not-at-top
  from flatness_jax.tokens import batching  # pylint: disable=g-import-not-at-top
  from flatness_jax import models  # pylint: disable=g-import-not-at-top
  from flatness_jax.train import arms, feed, step as step_lib, trainer as trainer_lib  # pylint: disable=g-import-not-at-top

  torch.set_num_threads(args.cores)
  print(f"cores={args.cores} (affinity {sorted(os.sched_getaffinity(0))}), jax {jax.__version__} "
        f"{jax.devices()}, torch {torch.__version__} threads={torch.get_num_threads()}, batch={args.batch}")
  gemm = gemm_runner(args.gemm)
  peak = 0.0
  rows = []
  for size in args.sizes.split(","):
    base = quickstart.get_config()
    base.run_arms, base.seeds = size, 1
    cfg = arms.run_configs(base)[size]
    cfg.train.batch_size = args.batch
    run = trainer_lib.Trainer(cfg)
    lang, k = run.language, cfg.train.steps_per_call
    n = args.steps
    tokens, lengths = feed.sample_steps(lang, run.data_key, range(n + k), args.batch)
    ntok = int(lengths[k:].sum())
    init = run.fresh_state

    def ours(per_call):
      """A runner: (warm-up, then) `n` steps of our chunk, `per_call` steps per jit call; returns tok/s. A chunk of
      `steps_per_call` is the program the trainer runs (step.up_to, k steps); one step per call a scan of one."""
      if per_call == k:
        chunk = lambda state, t, l, key: run.train_chunk(state, t, l, k, key)  # pylint: disable=unnecessary-lambda-assignment
      else:
        chunk = step_lib.jit_train_chunk(step_lib.make_train_chunk(
            run.model, run.tx, lang.vocab_size, "one", run.schedule, dropout=False), run.mesh, run.shardings)
      holder = [init()]
      holder[0], m = chunk(holder[0], tokens[:per_call], lengths[:per_call], run.mask_key)  # compile
      jax.block_until_ready(m)

      def measure():
        t = time.perf_counter()
        for i in range(k, k + n, per_call):
          holder[0], m = chunk(holder[0], tokens[i:i + per_call], lengths[i:i + per_call], run.mask_key)
        jax.block_until_ready(m)
        return ntok / (time.perf_counter() - t)
      return measure

    # PyTorch: the same sentences and masks (drawn by our batching with the same keys).
    resolved = models.resolve_model_config(run.config.model)
    make_tm = lambda: torch_reference.TorchBertMLM(lang.vocab_size, run.max_length, resolved.d_model,  # pylint: disable=g-long-lambda
                                                   resolved.num_layers, resolved.num_heads, resolved.d_ff)
    params = init().params
    masks = [jax.device_get(batching.one_mask_batch(jax.random.fold_in(run.mask_key, i), tokens[i], lengths[i],
                                                    lang.vocab_size)) for i in range(n + k)]
    batches = [(np.asarray(b["inputs"]), np.asarray(b["positions"]), np.asarray(b["targets"])) for b in masks]
    tm = torch_reference.load_flax_params(make_tm(), jax.device_get(params))
    with torch.no_grad():
      ref = run.model.apply({"params": params}, batches[0][0], batches[0][1])
      tl = tm(torch.as_tensor(batches[0][0]).long(), torch.as_tensor(batches[0][1]).long()).numpy()
    max_diff = float(np.abs(np.asarray(ref) - tl).max())

    def torch_runner(compiled):
      tm = torch_reference.load_flax_params(make_tm(), jax.device_get(params))
      step = torch_reference.TrainStep(tm, 3e-3, compiled=compiled)
      torch_reference.torch_train_steps(tm, batches[:args.warmup], 3e-3, step=step)  # warm-up (and compilation)

      def measure():
        t = time.perf_counter()
        torch_reference.torch_train_steps(tm, batches[k:k + n], 3e-3, step=step)
        return ntok / (time.perf_counter() - t)
      return measure

    runners = {"scan": ours(k), "single": ours(1), "eager": torch_runner(False), "compile": torch_runner(True),
               "gemm": gemm}
    best = {name: 0.0 for name in runners}
    for _ in range(args.rounds):  # interleaved: a slow moment of the machine hits every runner alike
      for name, measure in runners.items():
        best[name] = max(best[name], measure())
    peak = max(peak, best.pop("gemm"))
    chunk = step_lib.jit_train_chunk(step_lib.make_train_chunk(
        run.model, run.tx, lang.vocab_size, "one", run.schedule, dropout=False), run.mesh, run.shardings)
    lowered = chunk.lower(init(), tokens[:1], lengths[:1], run.mask_key)
    flops = step_flops(lowered)
    dots = step_anatomy.dot_generals(lowered.as_text())
    if not dots:
      sys.exit(f"bench_train: no stablehlo.dot_general read from {size}'s lowered step (its text format changed?)")
    timed = step_anatomy.time_dots(dots)
    anatomy = (sum(step_anatomy.dot_flops(d) for d in dots), step_anatomy.total_seconds(timed),
               update_seconds(run.tx, init()), len(dots), timed)
    print(f"  {size}: " + ", ".join(f"{name} {v:,.0f} tok/s" for name, v in best.items())
          + f"; {flops / 1e9:.3f} GFLOP/step", flush=True)
    rows.append((size, models.count_params(params), best, max_diff, flops, ntok / n, anatomy))
  print("\n| size | params | ours, scan of 20 (tok/s) | ours, 1 step/call | PyTorch eager | torch.compile | "
        "ours / eager | ours / compiled | 1-step / compiled | max |logit diff| |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  for size, npar, tt, d, *_ in rows:
    a, b = tt["scan"], tt["single"]
    print(f"| {size} | {npar:,} | {a:,.0f} | {b:,.0f} | {tt['eager']:,.0f} | {tt['compile']:,.0f} | "
          f"{a / tt['eager']:.2f}× | {a / tt['compile']:.2f}× | {b / tt['compile']:.2f}× | {d:.1e} |")
  print(f"\nmatmul peak: {peak / 1e9:.1f} GFLOP/s ({args.gemm}×{args.gemm} float32 GEMM, best of {args.rounds} "
        f"rounds x {len(rows)} sizes, interleaved)")
  print("| size | GFLOP / step (XLA) | steps/s (scan) | achieved GFLOP/s | fraction of matmul peak |")
  print("|---|---|---|---|---|")
  for size, _, tt, _, flops, tokens_per_step, _ in rows:
    steps = tt["scan"] / tokens_per_step
    print(f"| {size} | {flops / 1e9:.3f} | {steps:.1f} | {flops * steps / 1e9:.1f} | {flops * steps / peak:.1%} |")
  print("\nWhere a step goes (benchmarks/step_anatomy.py): the step's matrix products, each run alone at its own "
        "shapes, and the optimizer update alone, against the scanned step")
  print("| size | products | share of step FLOPs | products alone, ms | their GFLOP/s | fraction of peak at these "
        "shapes | ceiling: step's fraction were all else free | AdamW update alone, ms | step, ms | "
        "step outside the products |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  for size, _, tt, _, flops, tokens_per_step, (f_mm, t_mm, t_upd, count, _) in rows:
    t_step = tokens_per_step / tt["scan"]
    print(f"| {size} | {count} | {f_mm / flops:.1%} | {t_mm * 1e3:.2f} | {f_mm / t_mm / 1e9:.1f} | "
          f"{f_mm / t_mm / peak:.1%} | {flops / t_mm / peak:.1%} | {t_upd * 1e3:.2f} | {t_step * 1e3:.2f} | "
          f"{1 - t_mm / t_step:.1%} |")
  for size, *_, (_, t_mm, _, _, timed) in rows:
    print(f"\n{size}: the products by time (each alone; count per step)")
    print("| product | count | GFLOP each | ms each | GFLOP/s | fraction of peak | share of the products' time |")
    print("|---|---|---|---|---|---|---|")
    for d, count, sec in sorted(timed, key=lambda x: -x[1] * x[2]):
      f = step_anatomy.dot_flops(d)
      print(f"| {step_anatomy.describe(d)} | {count} | {f / 1e9:.4f} | {sec * 1e3:.3f} | {f / sec / 1e9:.1f} | "
            f"{f / sec / peak:.1%} | {count * sec / t_mm:.1%} |")


def gemm_runner(n: int):
  """A runner returning the FLOP/s of one jitted n×n float32 matrix product (2·n³ FLOPs), warm."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  mm = jax.jit(jnp.matmul)
  jax.block_until_ready(mm(a, b))

  def measure():
    t = time.perf_counter()
    for _ in range(3):
      out = mm(a, b)
    jax.block_until_ready(out)
    return 3 * 2 * n ** 3 / (time.perf_counter() - t)
  return measure


def update_seconds(tx, state) -> float:
  """Seconds of one optimizer update and its application alone (the parameters standing in for their gradient),
  jitted, timed as each product is (step_anatomy.seconds_per_call)."""
  import jax  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  from benchmarks import step_anatomy  # pylint: disable=g-import-not-at-top
  f = jax.jit(lambda p, s: optax.apply_updates(p, tx.update(p, s, p)[0]))
  return step_anatomy.seconds_per_call(f, state.params, state.opt_state)


def step_flops(lowered_one_step) -> float:
  """FLOPs of one training step: XLA's cost analysis of the compiled chunk of one step (the analysis counts a
  loop's body once, whatever its trip count, so a longer chunk would report the same number)."""
  cost = lowered_one_step.compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost["flops"])


if __name__ == "__main__":
  main()
