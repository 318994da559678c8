"""Tr(H) by Hutchinson: flatness_curvature against PyHessian (Yao et al. 2020) on the same trained weights.

    pip install -e '.[bench]'     # torch==2.13.0 (CPU wheel) and pyhessian==0.1
    python benchmarks/bench_pyhessian.py --run_dir=runs/quickstart/cpu_s [--pairs=512] [--probes=100]

The model is a trained BertMLM run directory (the quickstart's cpu_s by default); its parameters are copied into
benchmarks/torch_reference.TorchBertMLM with plain-math attention (PyTorch's CPU flash-attention kernel has no
double backward), and both compute the loss of the same `--pairs` held-out (sentence, masked position) pairs of the
curvature job (flatness_jax.eval.curvature_eval.pretraining_batches, seed 7): the two losses must agree before
anything is timed. Both run Rademacher Hutchinson with `--probes` probes on the same cores:
  * PyHessian `hessian(model, criterion, data).trace(maxIter=probes, tol=0)`: one create_graph backward at setup,
    then per probe one backward through that graph (torch.autograd.grad with grad_outputs=v);
  * ours `curvature.hessian_trace(..., method="hutchinson", num_matvecs=probes)`: jax.linearize of the gradient
    once per batch, then the linear map per probe, vmapped `chunk_size` at a time; also on microbatches
    (curvature.split_batch: one microbatch's residuals alive at a time; 4 of 128, the curvature job's own batch
    size, was the fastest per probe on 2 cores: 67 ms vs 74 ms for one batch of 512). Cold = first call (tracing and XLA
    compilation included; with the persistent compilation cache a later process skips the compilation), warm =
    second call.
Printed: estimate ± SE (over probes), seconds, HVPs per second, and the ratio of HVPs/s to PyHessian's, at equal
probes (so equal error up to the probes' own noise).
Where the lead comes from (measured 2026-12-02 on the quickstart's cpu_s, 2 quiet cores): PyHessian 139 ms per HVP;
ours 108 ms before BertMLM ran its last block at the masked rows only, 74 ms after (the replica, a standard BERT,
computes every row), 67 ms with 4 microbatches. Same Rademacher estimator, same pairs, estimates within 1 SE.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--run_dir", default="runs/quickstart/cpu_s")
  p.add_argument("--pairs", type=int, default=512)
  p.add_argument("--probes", type=int, default=100)
  p.add_argument("--cores", type=int, default=2)
  p.add_argument("--chunks", default="1", help="probes per vmapped linear map (10 was 3× slower per probe on 2 "
                 "cores than 1)")
  p.add_argument("--microbatches", type=int, default=4)
  args = p.parse_args()
  os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:args.cores]))
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top
  from pyhessian import hessian  # pylint: disable=g-import-not-at-top

  from benchmarks import torch_reference  # pylint: disable=g-import-not-at-top
  import flatness_curvature as curvature  # pylint: disable=g-import-not-at-top
  from flatness_jax import models  # pylint: disable=g-import-not-at-top
  from flatness_jax.eval import curvature as curvature_eval  # pylint: disable=g-import-not-at-top
  from flatness_jax.rundir import rundir  # pylint: disable=g-import-not-at-top
  from flatness_jax.train import objective  # pylint: disable=g-import-not-at-top

  torch.set_num_threads(args.cores)
  run = rundir.RunDir(args.run_dir)
  step = run.steps()[-1]
  params = run.params(step)
  (batch,) = curvature_eval.pretraining_batches(run.language, args.pairs, args.pairs, seed=7)
  loss_fn = objective.loss_fn_for(run.model)
  c = models.resolve_model_config(run.config.model)
  tm = torch_reference.TorchBertMLM(run.language.vocab_size, run.max_length, c.d_model, c.num_layers, c.num_heads,
                                    c.d_ff, head_dim=c.head_dim or None, math_attention=True)
  torch_reference.load_flax_params(tm, jax.device_get(params))
  tokens, positions, targets = (torch.as_tensor(np.asarray(batch[k]), dtype=torch.long)
                                for k in ("inputs", "positions", "targets"))

  class Wrapped(torch.nn.Module):
    def __init__(self, m):
      super().__init__()
      self.m = m

    def forward(self, inputs):
      return self.m(*inputs)

  with torch.no_grad():
    torch_loss = float(F.cross_entropy(tm(tokens, positions), targets))
  ours_loss = float(loss_fn(params, batch))
  print(f"# {run.workdir} step {step}: {models.count_params(params):,} parameters, {args.pairs} pairs, "
        f"{args.probes} Rademacher probes, {args.cores} cores; jax {jax.__version__}, torch {torch.__version__}")
  print(f"loss: ours {ours_loss:.6f}, PyTorch replica {torch_loss:.6f} (|Δ| {abs(ours_loss - torch_loss):.1e})")
  if abs(ours_loss - torch_loss) > 1e-4 * abs(ours_loss):
    raise SystemExit("the replica's loss differs from ours: not comparing")

  rows = []
  torch.manual_seed(0)
  t0 = time.perf_counter()
  h = hessian(Wrapped(tm), F.cross_entropy, data=((tokens, positions), targets), cuda=False)
  setup = time.perf_counter() - t0
  t0 = time.perf_counter()
  vals = np.asarray(h.trace(maxIter=args.probes, tol=0.0))
  t_ph = time.perf_counter() - t0
  rows.append(("PyHessian trace() (setup: create_graph backward)", vals.mean(), vals.std(ddof=1) / np.sqrt(len(vals)),
               len(vals), setup + t_ph, t_ph))
  key = jax.random.key(0)
  variants = [(f"ours, chunk_size={k}", batch, k) for k in (int(x) for x in args.chunks.split(","))]
  variants.append((f"ours, {args.microbatches} microbatches, chunk_size=1", curvature.split_batch(batch,
                                                                                                  args.microbatches), 1))
  for name, b, chunk in variants:
    fn = lambda b=b, chunk=chunk: curvature.hessian_trace(loss_fn, params, b, key, method="hutchinson",  # pylint: disable=g-long-lambda
                                                          num_matvecs=args.probes, chunk_size=chunk)
    t0 = time.perf_counter()
    est = jax.block_until_ready(fn())
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    est = jax.block_until_ready(fn())
    warm = time.perf_counter() - t0
    rows.append((name, float(est.value), float(est.stderr), int(est.num_matvecs), cold, warm))
  ref = args.probes / rows[0][5]
  print("\n| method | Tr(H) ± SE | probes | seconds cold | seconds warm | HVPs/s warm | × PyHessian (warm) |")
  print("|---|---|---|---|---|---|---|")
  for name, value, se, n, cold, warm in rows:
    print(f"| {name} | {value:.2f} ± {se:.2f} | {n} | {cold:.2f} | {warm:.2f} | {n / warm:.1f} | "
          f"{n / warm / ref:.2f}× |")
  print("\nPyHessian's cold time is its setup (one create_graph backward) plus the probes; ours includes tracing and "
        "XLA compilation (the persistent compilation cache removes most of it in a later process).")


if __name__ == "__main__":
  main()
