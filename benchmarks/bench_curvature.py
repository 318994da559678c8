"""Cost of curvature estimates on a small transformer MLM, in seconds and in gradient evaluations, in one run.

    python benchmarks/bench_curvature.py                 # ≈ 15 min on 2 busy CPU cores
    python benchmarks/bench_curvature.py --train_steps 0 --rtol 0.05

Model (defined here, independent of flatness_jax.models): pre-LN encoder, d=64, 2 layers, 4 heads, FFN 256, learned
positions, vocabulary 52 (+1 mask token), length 16, one masked position per sentence with the head only there;
batch 256 — the size of the project's CPU quickstart. Data: sentences from a random first-order Markov chain
(Dirichlet(0.1) transition rows), so there is something to learn; the model is trained `--train_steps` Adam steps
first (loss printed) so the curvature is measured near a trained point rather than at initialisation.

Reported, all measured in this run, float32:
  * one gradient of the batch loss (the unit), a fresh forward-over-reverse HVP, and the amortised per-vector cost
    of hessian_trace (jax.linearize once, random vectors mapped through the linear function): marginal seconds per random vector
    from the difference of two budgets, and total seconds per random vector including the linearisation;
  * compiled memory (XLA memory_analysis: temporaries + outputs) of the gradient, of a fresh HVP, and of the whole
    Hutchinson estimator (linearization, random vectors vmapped `chunk_size` at a time: memory grows with chunk_size; on a
    batch split into microbatches, curvature.split_batch: one microbatch's residuals alive at a time), relative to
    the gradient of the whole batch;
  * for hutchinson, hutchpp, xtrace (adaptive, rtol) and the sampled-label Fisher trace (Liu et al. 2023): the
    estimate, matvecs (per-example gradients for Fisher), seconds (compiled, second call) and gradient-equivalents
    to reach the target relative standard error. The HVP estimators target Tr H of the batch loss; Fisher targets
    E_x E_{y~p_θ}‖∇ log p_θ‖² on fresh sentences (equal to Tr H only at the optimum; both are printed).
"""
import argparse
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import flatness_curvature as curvature

VOCAB, LENGTH, MASK = 52, 16, 52


class Block(nn.Module):
  dim: int
  heads: int
  ffn: int

  @nn.compact
  def __call__(self, x):
    x = x + nn.MultiHeadDotProductAttention(num_heads=self.heads)(nn.LayerNorm()(x))
    return x + nn.Dense(self.dim)(nn.gelu(nn.Dense(self.ffn)(nn.LayerNorm()(x))))


class MLM(nn.Module):
  """Encoder; logits over the vocabulary at each sentence's single masked position: [B, VOCAB]."""
  dim: int = 64
  layers: int = 2
  heads: int = 4
  ffn: int = 256

  @nn.compact
  def __call__(self, inputs):
    tokens, position = inputs
    x = nn.Embed(VOCAB + 1, self.dim)(tokens)
    x = x + self.param("pos", nn.initializers.normal(0.02), (LENGTH, self.dim))
    for _ in range(self.layers):
      x = Block(self.dim, self.heads, self.ffn)(x)
    h = nn.LayerNorm()(x)[jnp.arange(tokens.shape[0]), position]
    return nn.Dense(VOCAB)(h)


def sample_batch(key, transitions, n):
  """Markov-chain sentences, one uniformly chosen position masked: ((tokens, position), target)."""
  k0, k1, k2 = jax.random.split(key, 3)
  first = jax.random.randint(k0, (n,), 0, VOCAB)

  def step(tok, k):
    nxt = jax.random.categorical(k, jnp.log(transitions[tok]))
    return nxt, nxt
  _, rest = jax.lax.scan(step, first, jax.random.split(k1, LENGTH - 1))
  tokens = jnp.concatenate([first[:, None], rest.T], axis=1)
  position = jax.random.randint(k2, (n,), 0, LENGTH)
  target = tokens[jnp.arange(n), position]
  return (tokens.at[jnp.arange(n), position].set(MASK), position), target


MODEL = MLM()


def loss_fn(params, batch):
  inputs, target = batch
  return optax.softmax_cross_entropy_with_integer_labels(MODEL.apply(params, inputs), target).mean()


def train(params, transitions, key, steps, batch_size):
  opt = optax.adam(1e-3)

  @jax.jit
  def run(params, state, key):
    def step(carry, k):
      p, s = carry
      loss, g = jax.value_and_grad(loss_fn)(p, sample_batch(k, transitions, batch_size))
      u, s = opt.update(g, s, p)
      return (optax.apply_updates(p, u), s), loss
    (params, state), losses = jax.lax.scan(step, (params, state), jax.random.split(key, 20))
    return params, state, losses[-1]

  state, loss = opt.init(params), jnp.nan
  for i in range(steps // 20):
    params, state, loss = run(params, state, jax.random.fold_in(key, i))
  return params, float(loss)


def timed(fn, *args, reps=5):
  """Minimum wall seconds of fn(*args) over reps, after one warm-up call (fn is jitted or caches its compilation).

  The minimum, not the median: on a shared machine other processes only ever add time.
  """
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(reps):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return float(np.min(times))


def memory(fn, *args):
  """Compiled temporaries + outputs in bytes (XLA memory_analysis)."""
  m = jax.jit(fn).lower(*args).compile().memory_analysis()
  return m.temp_size_in_bytes + m.output_size_in_bytes


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--train_steps", type=int, default=300)
  parser.add_argument("--rtol", type=float, default=0.02)
  parser.add_argument("--chunk", type=int, default=1, help="chunk_size of the estimator runs")
  parser.add_argument("--chunks", default="1,4,16", help="chunk sizes of the per-vector cost/memory rows")
  parser.add_argument("--microbatches", default="2,4", help="microbatch counts (curvature.split_batch) of those rows")
  parser.add_argument("--max_matvecs", type=int, default=3000)
  args = parser.parse_args()
  key = jax.random.key(0)
  transitions = jax.random.dirichlet(jax.random.key(1), jnp.full((VOCAB,), 0.1), (VOCAB,))
  batch = sample_batch(jax.random.key(2), transitions, args.batch)
  params = MODEL.init(jax.random.key(3), batch[0])
  n_params = sum(x.size for x in jax.tree.leaves(params))
  start = time.time()
  params, loss = train(params, transitions, jax.random.key(4), args.train_steps, args.batch)
  print(f"# Curvature cost benchmark: {n_params:,} parameters, batch {args.batch}, "
        f"{jax.devices()[0].platform} x{jax.device_count()}, float32")
  print(f"trained {args.train_steps} Adam steps in {time.time() - start:.0f} s: batch loss {loss:.3f} nats\n")

  grad = jax.jit(jax.grad(loss_fn))
  grad_times = []

  def measure(fn, reps):
    """fn's minimum time, with the gradient re-timed next to it (the unit is the minimum over the whole run)."""
    t = timed(fn, reps=reps)
    grad_times.append(timed(grad, params, batch, reps=3))
    return t

  v = jax.tree.map(jnp.ones_like, params)
  fresh_hvp = jax.jit(lambda p, b, v: curvature.hvp(loss_fn, p, b, v))
  t_hvp = measure(lambda: fresh_hvp(params, batch, v), reps=10)
  mem_grad = memory(lambda p: jax.grad(loss_fn)(p, batch), params)
  mem_hvp = memory(lambda p, v: curvature.hvp(loss_fn, p, batch, v), params, v)
  cost_rows = [("fresh HVP (jvp of grad)", t_hvp, None, mem_hvp)]
  settings = [(chunk, 1) for chunk in (int(c) for c in args.chunks.split(","))]
  settings += [(1, k) for k in (int(k) for k in args.microbatches.split(",")) if k > 1]
  for chunk, micro in settings:
    data = batch if micro == 1 else curvature.split_batch(batch, micro)
    m_small, m_large = 2 * max(chunk, 4), 6 * max(chunk, 4)
    t_small, t_large = (measure(lambda: curvature.hessian_trace(loss_fn, params, data, key, method="hutchinson",
                                                                num_matvecs=m, chunk_size=chunk), reps=5)
                        for m in (m_small, m_large))
    # The whole estimator's program (random vectors, linearization, chunked map, accumulation), not a bare HVP.
    mem = memory(lambda p: curvature.hessian_trace(loss_fn, p, data, key, method="hutchinson", num_matvecs=m_large,
                                                   chunk_size=chunk).value, params)
    where = f"1 batch of {args.batch}" if micro == 1 else f"{micro} microbatches of {args.batch // micro}"
    cost_rows.append((f"Hutchinson estimator per random vector, {where}, chunk_size={chunk}: marginal (incl. linearize, "
                      f"{m_large} random vectors)", (t_large - t_small) / (m_large - m_small), t_large / m_large, mem))

  est_rows = []
  for method in ("hutchinson", "hutchpp", "xtrace"):
    run = lambda: curvature.hessian_trace(loss_fn, params, batch, key, method=method, rtol=args.rtol,
                                          num_matvecs=30, chunk_size=args.chunk, max_matvecs=args.max_matvecs)
    est = run()
    est_rows.append((f"{method} (Tr H, batch loss)", est, measure(run, reps=2)))
    print(f"  {method}: {float(est.value):.3f} ± {float(est.stderr):.3f}, {int(est.num_matvecs)} matvecs",
          flush=True)
  logits_fn = MODEL.apply
  pilot = curvature.fisher_trace(logits_fn, params, sample_batch(jax.random.key(5), transitions, 256)[0], key,
                                 chunk_size=64)
  n_needed = int(np.ceil(256 * (float(pilot.rel_stderr) / args.rtol) ** 2 / 64) * 64)
  inputs = sample_batch(jax.random.key(6), transitions, n_needed)[0]
  run = lambda: curvature.fisher_trace(logits_fn, params, inputs, key, chunk_size=64)
  est = run()
  est_rows.append((f"fisher (Tr F, fresh sentences; pilot 256 → {n_needed} examples)", est, measure(run, reps=3)))

  t_grad = min(grad_times)
  print(f"\ngradient of the batch loss: {t_grad:.4f} s (minimum of {3 * len(grad_times)} timings spread over the "
        f"run; range {min(grad_times):.4f}–{max(grad_times):.4f} s)\n")
  print("| quantity | seconds | × gradient | compiled memory, MiB | × gradient |\n|---|---|---|---|---|")
  print(f"| gradient of the batch loss | {t_grad:.4f} | 1.00 | {mem_grad / 2 ** 20:.1f} | 1.00 |")
  for name, t, t_incl, mem in cost_rows:
    ratio = f"{t / t_grad:.2f}" + (f" ({t_incl / t_grad:.2f})" if t_incl is not None else "")
    print(f"| {name} | {t:.4f} | {ratio} | {mem / 2 ** 20:.1f} | {mem / mem_grad:.2f} |")
  print(f"\n| estimator (to {100 * args.rtol:.0f}% relative SE) | estimate ± SE | matvecs | seconds | "
        "gradient-equivalents |\n|---|---|---|---|---|")
  for name, est, seconds in est_rows:
    print(f"| {name} | {float(est.value):.3f} ± {float(est.stderr):.3f} | {int(est.num_matvecs)} | "
          f"{seconds:.2f} | {seconds / t_grad:.1f} |")
  print(f"\n(total {time.time() - start:.0f} s)")


if __name__ == "__main__":
  main()
