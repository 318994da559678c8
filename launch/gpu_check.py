"""Single-accelerator throughput check: the training step and a Hessian-trace estimate at paper scale.

    python launch/gpu_check.py [--preset=bert_235m] [--batch=0] [--steps=30] [--out=gpu_check.json]
    python launch/gpu_check.py --tiny          # the same path on CPU in seconds (cpu_tiny, few steps)

What it measures, on one device (launch/gpu_check.sh runs it on an H100-class GPU in a few minutes):
  1. The real training step (flatness_jax.train.step: masked-LM loss, AdamW, `steps_per_call` steps per jitted
     `lax.scan`) of the preset at the paper PCFG shape (V=200 words, length L=32), bf16 compute, float32 params.
     Sentences are uniform random words at full length (throughput does not depend on the language).
  2. Batch: the largest power of two that fits. The plan (flatness_jax/parallel/resources.py) proposes one; the compiled
     step's memory analysis (arguments + outputs + temporaries vs. the device's bytes_limit) confirms it or halves
     it; a RESOURCE_EXHAUSTED at run time halves it again. --batch fixes it instead.
  3. tokens/s = B·L·steps / time (time after a compiling warm-up call), model FLOPs per step from plan.train_flops,
     MFU = FLOPs/s ÷ the device's bf16 dense peak (H100/H200 989 TFLOP/s, A100 312; --peak_tflops overrides).
  4. One Hutchinson estimate of tr ∇²L (flatness_curvature.hessian_trace, --probes Rademacher vectors) on
     --hessian_batch sentences, timed against one gradient of the same loss on the same batch (both jitted,
     timed after warm-up): the ratio is the estimate's cost in gradient evaluations.
  5. train.vmap_seeds' gain: --vmap_seeds seeds of the --vmap_preset model (the cpu tier's cpu_s) at the cpu tier's
     batch, stepped as one vmapped chunk against the same seeds stepped one chunk call each (both jitted, fastest
     of 3 after warm-up): seed-steps/s of each and their ratio (flatness_jax.train.seed_group).
Prints a summary and writes it as JSON to --out.
"""
import json
import math
import os
import sys
import time

from absl import app, flags, logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

flags.DEFINE_bool("tiny", False, "CPU smoke run: cpu_tiny preset, V=50, L=16, batch 64, 4 steps, 4 probes.")
flags.DEFINE_string("preset", "bert_235m", "Model preset (flatness_jax.models.PRESETS).")
flags.DEFINE_integer("vocab_size", 200, "Words V (paper PCFG: 200).")
flags.DEFINE_integer("length", 32, "Sequence length L (paper PCFG: 32).")
flags.DEFINE_integer("batch", 0, "Sentences per step; 0: the largest power of two that fits.")
flags.DEFINE_integer("max_batch", 16384, "Upper bound of the batch search.")
flags.DEFINE_integer("steps", 30, "Timed optimizer steps (after one warm-up call).")
flags.DEFINE_integer("steps_per_call", 10, "Steps per jitted lax.scan call.")
flags.DEFINE_enum("dtype", "bfloat16", ["bfloat16", "float32"], "Compute dtype (params stay float32).")
flags.DEFINE_integer("probes", 16, "Hutchinson probes of the Hessian-trace estimate.")
flags.DEFINE_integer("hessian_batch", 256, "Sentences of the Hessian-trace batch.")
flags.DEFINE_float("peak_tflops", 0.0, "Device bf16 dense peak; 0: from the device kind.")
flags.DEFINE_float("memory_gib", 0.0, "Device memory for the batch search; 0: the device's bytes_limit.")
flags.DEFINE_integer("vmap_seeds", 5, "Seeds of the vmap_seeds measurement (the gpu tier's 5; 0 skips it).")
flags.DEFINE_string("vmap_preset", "cpu_s", "Model of the vmap_seeds measurement (the cpu/gpu tiers' base model).")
flags.DEFINE_integer("vmap_batch", 256, "Sentences per step of each seed in the vmap_seeds measurement.")
flags.DEFINE_string("out", "gpu_check.json", "Where to write the JSON summary ('' for none).")
FLAGS = flags.FLAGS

PEAK_TFLOPS = (("H200", 989.0), ("H100", 989.0), ("A100", 312.0), ("L4", 121.0), ("v5 lite", 197.0),
               ("v5e", 197.0))


def _peak_flops(device) -> float:
  """The device's bf16 dense peak in FLOP/s (--peak_tflops, else by device kind, else plan's nominal CPU)."""
  from flatness_jax.parallel import resources as plan  # pylint: disable=g-import-not-at-top
  if FLAGS.peak_tflops:
    return FLAGS.peak_tflops * 1e12
  kind = getattr(device, "device_kind", "")
  for name, tflops in PEAK_TFLOPS:
    if name.lower() in kind.lower():
      return tflops * 1e12
  return plan.HARDWARE["cpu"].peak_flops


def _size(n) -> str:
  return "unknown" if n is None else f"{n / 2 ** 30:.3g} GiB" if n >= 2 ** 30 else f"{n / 2 ** 20:.3g} MiB"


def _bytes_limit(device) -> int | None:
  stats = device.memory_stats() if hasattr(device, "memory_stats") else None
  return (stats or {}).get("bytes_limit")


def _settings():
  """Effective settings (the --tiny overrides applied)."""
  s = dict(preset=FLAGS.preset, vocab=FLAGS.vocab_size, length=FLAGS.length, batch=FLAGS.batch,
           steps=FLAGS.steps, steps_per_call=FLAGS.steps_per_call, dtype=FLAGS.dtype, probes=FLAGS.probes,
           hessian_batch=FLAGS.hessian_batch, vmap_seeds=FLAGS.vmap_seeds, vmap_preset=FLAGS.vmap_preset,
           vmap_batch=FLAGS.vmap_batch)
  if FLAGS.tiny:
    s.update(preset="cpu_tiny", vocab=50, length=16, batch=FLAGS.batch or (0 if FLAGS.memory_gib else 64),
             steps=4, steps_per_call=2,
             dtype="float32", probes=4, hessian_batch=32, vmap_seeds=min(FLAGS.vmap_seeds, 2),
             vmap_preset="cpu_tiny", vmap_batch=16)
  s["steps"] = max(s["steps_per_call"], s["steps"] // s["steps_per_call"] * s["steps_per_call"])
  return s


class Bench:
  """The model, optimizer and jitted training chunk for one batch size on a one-device mesh."""

  def __init__(self, s):
    import jax  # pylint: disable=g-import-not-at-top
    from flatness_jax import models  # pylint: disable=g-import-not-at-top
    from flatness_jax.parallel import mesh as mesh_lib  # pylint: disable=g-import-not-at-top
    from flatness_jax.train import optim, state as state_lib, step as step_lib  # pylint: disable=g-import-not-at-top
    from experiments.configs import base  # pylint: disable=g-import-not-at-top
    self.s = s
    config = base.train_config()
    config.model.preset, config.model.dtype = s["preset"], s["dtype"]
    self.model_config = models.resolve_model_config(config.model)
    self.model = models.make_model(self.model_config, s["vocab"], s["length"])
    num_steps = 10_000  # the schedule only sets the learning rate; throughput does not depend on it
    self.tx = optim.make_optimizer(config.optimizer, num_steps)
    schedule = optim.make_schedule(config.optimizer, num_steps)
    self.mesh = mesh_lib.make_mesh(1, jax.devices()[:1])
    _, self.shardings = state_lib.state_shardings(self.model, self.tx, self.mesh, s["length"])
    self._init = lambda: state_lib.init_train_state(self.model, self.tx, jax.random.key(0), self.shardings,
                                                    s["length"])
    self.state = self._init()
    self.num_params = models.count_params(self.state.params)
    raw = step_lib.make_train_chunk(self.model, self.tx, s["vocab"], "one", schedule, dropout=False)
    self.chunk = step_lib.jit_train_chunk(raw, self.mesh, self.shardings)
    self.data_sharding = mesh_lib.batch_sharding(self.mesh, leading_unsharded=1)

  def data(self, batch, key_int=0):
    """Random full-length sentences: tokens [n, B, L] and lengths [n, B] on the device."""
    import jax  # pylint: disable=g-import-not-at-top
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    n, length = self.s["steps_per_call"], self.s["length"]
    tokens = jax.random.randint(jax.random.key(key_int), (n, batch, length), 0, self.s["vocab"], jnp.int32)
    lengths = jnp.full((n, batch), length, jnp.int32)
    return jax.device_put(tokens, self.data_sharding), jax.device_put(lengths, self.data_sharding)

  def compiled(self, batch):
    """The training chunk compiled for `batch` (with its memory analysis)."""
    import jax  # pylint: disable=g-import-not-at-top
    tokens, lengths = self.data(batch)
    return self.chunk.lower(self.state, tokens, lengths, jax.random.key(1)).compile()

  def reset_state(self):
    """Fresh parameters (the training chunk donates the state it is given)."""
    self.state = self._init()


def _memory_needed(compiled) -> int | None:
  ma = compiled.memory_analysis()
  if ma is None:
    return None
  return ma.argument_size_in_bytes + ma.output_size_in_bytes - ma.alias_size_in_bytes + ma.temp_size_in_bytes


def choose_batch(bench, s, limit) -> tuple[int, list]:
  """(batch, log): the largest power of two that the plan and then the compiled memory analysis say fits."""
  from flatness_jax.parallel import resources as plan  # pylint: disable=g-import-not-at-top
  log = []
  if s["batch"]:
    return s["batch"], log
  shape = plan.transformer_shape(bench.model_config, s["vocab"], s["length"])
  per_seq = plan.XLA_ACTIVATION_FACTOR * plan.activation_bytes(shape, 1, 2 if s["dtype"] == "bfloat16" else 4)
  state_bytes = 16 * bench.num_params
  budget = 0.85 * limit if limit else 16 * 2 ** 30
  batch = 2 ** max(0, int(math.log2(max(1.0, (budget - state_bytes) / per_seq))))
  batch = min(batch, FLAGS.max_batch)
  log.append(f"plan proposes batch {batch} ({per_seq / 2 ** 20:.1f} MiB/sequence planned)")
  if not limit:
    return batch, log
  tried_up = False
  while batch >= 1:
    needed = _memory_needed(bench.compiled(batch))
    log.append(f"batch {batch}: compiled step needs {_size(needed)} of {_size(limit)}")
    if needed is not None and needed > 0.95 * limit:
      batch //= 2
      continue
    if not tried_up and needed is not None and 2 * needed < 0.9 * limit and 2 * batch <= FLAGS.max_batch:
      tried_up = True
      needed2 = _memory_needed(bench.compiled(2 * batch))
      log.append(f"batch {2 * batch}: compiled step needs {_size(needed2)}")
      if needed2 is not None and needed2 <= 0.95 * limit:
        batch *= 2
    return batch, log
  raise RuntimeError("not even batch 1 fits")


def time_training(bench, s, batch):
  """(seconds per step, final loss) over s['steps'] steps after one warm-up call."""
  import jax  # pylint: disable=g-import-not-at-top
  tokens, lengths = bench.data(batch)
  key = jax.random.key(1)
  state, m = bench.chunk(bench.state, tokens, lengths, key)  # compile + warm-up
  jax.block_until_ready(m)
  calls = s["steps"] // s["steps_per_call"]
  t0 = time.perf_counter()
  for _ in range(calls):
    state, m = bench.chunk(state, tokens, lengths, key)
  jax.block_until_ready((state, m))
  dt = time.perf_counter() - t0
  bench.state = state
  return dt / s["steps"], float(m["loss"][-1])


def _best_time(fn, *args, repeats=3):
  """(fastest of `repeats` timed calls after a warm-up call, the last output)."""
  import jax  # pylint: disable=g-import-not-at-top
  out = jax.block_until_ready(fn(*args))  # compile + warm-up
  best = float("inf")
  for _ in range(repeats):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    best = min(best, time.perf_counter() - t0)
  return best, out


def time_hessian_trace(bench, s):
  """(trace estimate, its stderr, seconds, seconds of one gradient) on one batch of s['hessian_batch'] sentences."""
  import jax  # pylint: disable=g-import-not-at-top
  import flatness_curvature as trace_lib  # pylint: disable=g-import-not-at-top
  from flatness_jax.train import objective  # pylint: disable=g-import-not-at-top
  tokens, lengths = bench.data(s["hessian_batch"], key_int=2)
  batch = objective.make_batch(jax.random.key(3), tokens[0], lengths[0], s["vocab"], "one")
  loss_fn = objective.loss_fn_for(bench.model)
  params = bench.state.params
  grad = jax.jit(jax.grad(loss_fn))
  estimate = jax.jit(lambda p, b, k: trace_lib.hessian_trace(loss_fn, p, b, k, num_matvecs=s["probes"],
                                                             chunk_size=min(s["probes"], 8)))
  t_grad, _ = _best_time(grad, params, batch)
  t_trace, est = _best_time(estimate, params, batch, jax.random.key(4), repeats=1)
  return float(est.value), float(est.stderr), t_trace, t_grad


def time_vmap_seeds(s):
  """{seeds, seed_steps_per_second of one vmapped chunk and of separate calls, their ratio}: S seeds of
  s['vmap_preset'] at batch s['vmap_batch'] (float32, as the tiers train), one chunk of s['steps_per_call'] steps."""
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from experiments.configs import base  # pylint: disable=g-import-not-at-top
  from flatness_jax import models  # pylint: disable=g-import-not-at-top
  from flatness_jax.train import optim, seed_group, state as state_lib, step as step_lib  # pylint: disable=g-import-not-at-top
  n, length, S = s["steps_per_call"], s["length"], s["vmap_seeds"]
  config = base.train_config()
  config.model.preset = s["vmap_preset"]
  model = models.make_model(models.resolve_model_config(config.model), s["vocab"], length)
  tx = optim.make_optimizer(config.optimizer, 10_000)
  raw = step_lib.make_train_chunk(model, tx, s["vocab"], "one", optim.make_schedule(config.optimizer, 10_000),
                                  dropout=False)

  def init(k):
    tokens, positions = state_lib.dummy_inputs(length)
    params = nn.unbox(model.init(k, tokens, positions)["params"])
    return state_lib.TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))

  states = [jax.jit(init)(jax.random.key(i)) for i in range(S)]
  data = [(jax.random.randint(jax.random.key(100 + i), (n, s["vmap_batch"], length), 0, s["vocab"], jnp.int32),
           jnp.full((n, s["vmap_batch"]), length, jnp.int32)) for i in range(S)]
  keys = [jax.random.key(200 + i) for i in range(S)]
  one = jax.jit(lambda st, t, l, k: raw(st, t, l, k, None, None))
  group = jax.jit(jax.vmap(lambda st, t, l, k: raw(st, t, l, k, None, None)))
  stacked = (seed_group.stack(states), jnp.stack([d[0] for d in data]), jnp.stack([d[1] for d in data]),
             jnp.stack(keys))
  t_group, _ = _best_time(group, *stacked)
  t_alone, _ = _best_time(lambda: [one(st, d[0], d[1], k) for st, d, k in zip(states, data, keys)])
  return dict(seeds=S, preset=s["vmap_preset"], batch=s["vmap_batch"], length=length,
              vmapped_seed_steps_per_second=S * n / t_group, separate_seed_steps_per_second=S * n / t_alone,
              vmap_gain=t_alone / t_group)


def main(argv):
  del argv
  import jax  # pylint: disable=g-import-not-at-top
  from flatness_jax.parallel import resources as plan  # pylint: disable=g-import-not-at-top
  s = _settings()
  device = jax.devices()[0]
  limit = int(FLAGS.memory_gib * 2 ** 30) or _bytes_limit(device)
  print(f"device: {device.device_kind} ({device.platform}); memory limit {_size(limit)}", flush=True)
  bench = Bench(s)
  print(f"model: {s['preset']} ({bench.num_params:,} params), V={s['vocab']}, L={s['length']}, {s['dtype']}",
        flush=True)
  t0 = time.perf_counter()
  batch, log = choose_batch(bench, s, limit)
  for line in log:
    print("  " + line, flush=True)
  while True:
    try:
      step_s, loss = time_training(bench, s, batch)
      break
    except Exception as e:  # pylint: disable=broad-except
      if "RESOURCE_EXHAUSTED" not in str(e) or batch == 1:
        raise
      logging.warning("batch %d ran out of memory at run time; halving", batch)
      batch //= 2
      bench.reset_state()
  shape = plan.transformer_shape(bench.model_config, s["vocab"], s["length"])
  flops = plan.train_flops(shape, batch)["total"]
  peak = _peak_flops(device)
  tokens_s = batch * s["length"] / step_s
  mfu = flops / step_s / peak
  print(f"train: batch {batch} x {s['length']}, {step_s * 1e3:.2f} ms/step, {tokens_s:,.0f} tokens/s, "
        f"{flops / step_s / 1e12:.3g} TFLOP/s model = {100 * mfu:.1f}% MFU of {peak / 1e12:.3g} TFLOP/s; "
        f"loss {loss:.3f}", flush=True)
  value, stderr, t_trace, t_grad = time_hessian_trace(bench, s)
  print(f"hessian trace: Hutchinson {s['probes']} probes on {s['hessian_batch']} sentences: "
        f"{value:.4g} ± {stderr:.2g}; {t_trace * 1e3:.1f} ms = {t_trace / t_grad:.1f} gradients "
        f"({t_trace / t_grad / s['probes']:.2f} per probe; one gradient {t_grad * 1e3:.2f} ms)", flush=True)
  vmap = time_vmap_seeds(s) if s["vmap_seeds"] >= 2 else None
  if vmap:
    print(f"vmap_seeds: {vmap['seeds']} seeds of {vmap['preset']} (batch {vmap['batch']} each): "
          f"{vmap['vmapped_seed_steps_per_second']:,.1f} seed-steps/s as one program vs "
          f"{vmap['separate_seed_steps_per_second']:,.1f} as separate calls = {vmap['vmap_gain']:.2f}x", flush=True)
  summary = dict(device=device.device_kind, platform=device.platform, preset=s["preset"],
                 num_params=bench.num_params, vocab=s["vocab"], length=s["length"], dtype=s["dtype"], batch=batch,
                 batch_search=log, step_seconds=step_s, tokens_per_second=tokens_s, model_flops_per_step=flops,
                 peak_flops=peak, mfu=mfu, final_loss=loss, hessian_probes=s["probes"],
                 hessian_batch=s["hessian_batch"], trace=value, trace_stderr=stderr, trace_seconds=t_trace,
                 grad_seconds=t_grad, trace_in_gradients=t_trace / t_grad,
                 vmap_seeds=vmap, wall_seconds=time.perf_counter() - t0)
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump(summary, f, indent=2)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
  app.run(main)
