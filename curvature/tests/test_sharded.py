"""Sharded parameters: the toolkit on 4 simulated CPU devices equals the one-device results.

A tiny MLP's parameters are placed with NamedShardings over a 1-d mesh ('data', Auto axis type) — weights split along
the hidden axis, the batch split along examples — and hvp, the three trace estimators (one batch and a list of
batches), the Fisher trace and Lanczos (one batch and two) are compared with the same calls on unsharded copies.
Random vectors are drawn per leaf with the parameters' shardings (checked), and are the same numbers as the unsharded
ones, so the estimates agree to rounding: relative tolerance 1e-10 in float64.
"""
import pytest

from multidevice import run_python

SCRIPT = """
FULL = __FULL__
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_disable_most_optimizations", True)
from jax.sharding import NamedSharding, PartitionSpec as P
from jax.flatten_util import ravel_pytree
from flatness_curvature import fisher_trace, hessian_trace, hvp, lanczos_eigenvalues, hessian_matvec
from flatness_curvature._random_vectors import vector_shardings, random_vectors
from tiny_models import make_mlp, mlp_logits

assert jax.device_count() == 4
mesh = jax.make_mesh((4,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
params, loss_fn, batch = make_mlp(n=32, hidden=8, classes=4)
specs = {"w1": P(None, "data"), "b1": P("data"), "w2": P("data", None), "b2": P()}
shardings = jax.tree.map(lambda s: NamedSharding(mesh, s), specs)
sparams = jax.device_put(params, shardings)
data = NamedSharding(mesh, P("data"))
sbatch = jax.device_put(batch, data)
batches = [make_mlp(seed=s, n=32)[2] for s in (1, 2)]
sbatches = [jax.device_put(b, data) for b in batches]
assert sparams["w1"].sharding.spec == P(None, "data")

def close(a, b, name, rtol=1e-10):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  err = np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))
  print(f"{name}: max rel diff {err:.1e}")
  assert err <= rtol, (name, a, b)

# Random vectors carry the parameters' shardings (vector axis unsharded) and equal the unsharded ones.
ps = vector_shardings(sparams)
stack = jax.jit(lambda k: random_vectors(k, 0, 3, sparams, shardings=ps))(jax.random.key(0))
for leaf, s in zip(jax.tree.leaves(stack), jax.tree.leaves(shardings)):
  assert leaf.sharding.is_equivalent_to(NamedSharding(mesh, P(None, *s.spec)), leaf.ndim), (leaf.sharding, s)
close(ravel_pytree(stack)[0], ravel_pytree(jax.jit(lambda k: random_vectors(k, 0, 3, params))(jax.random.key(0)))[0],
      "random vectors", 0)

v = jax.tree.map(lambda x: jnp.cos(jnp.arange(x.size, dtype=x.dtype).reshape(x.shape)), params)
f = jax.jit(lambda p, b, v: hvp(loss_fn, p, b, v))
close(ravel_pytree(f(sparams, sbatch, jax.device_put(v, shardings)))[0], ravel_pytree(f(params, batch, v))[0], "hvp")

key = jax.random.key(1)
cases = [("hutchinson", batch, sbatch, "1 batch")]
if FULL:
  cases += [(m, b, sb, l) for m in ("hutchinson", "hutchpp", "xtrace")
            for b, sb, l in ((batch, sbatch, "1 batch"), (batches, sbatches, "2 batches"))][1:]
for method, b, sb, label in cases:
  ref = hessian_trace(loss_fn, params, b, key, method=method, num_matvecs=30, chunk_size=8)
  got = hessian_trace(loss_fn, sparams, sb, key, method=method, num_matvecs=30, chunk_size=8)
  close([got.value, got.stderr], [ref.value, ref.stderr], f"{method} ({label}) = {float(got.value):.6f}")
if not FULL:
  print("OK")
  raise SystemExit

x = batch[0]
sx = jax.device_put(x, data)
ref = fisher_trace(mlp_logits, params, x, key, num_samples=4, chunk_size=8)
got = fisher_trace(mlp_logits, sparams, sx, key, num_samples=4, chunk_size=8)
close([got.value, got.stderr], [ref.value, ref.stderr], "fisher")

ref = lanczos_eigenvalues(hessian_matvec(loss_fn, params, batch), params, key, k=2, num_iters=20)
got = lanczos_eigenvalues(hessian_matvec(loss_fn, sparams, sbatch), sparams, key, k=2, num_iters=20)
close(got.eigenvalues, ref.eigenvalues, "lanczos", 1e-9)
# Two batches of one shape: linearized as one vmapped program over the stacked (sharded) batches.
ref = lanczos_eigenvalues(hessian_matvec(loss_fn, params, batches), params, key, k=2, num_iters=20)
got = lanczos_eigenvalues(hessian_matvec(loss_fn, sparams, sbatches), sparams, key, k=2, num_iters=20)
close(got.eigenvalues, ref.eigenvalues, "lanczos (2 batches)", 1e-9)
print("OK")
"""


def test_sharded_equals_unsharded():
  """Random vectors (values and shardings), hvp and Hutchinson; the slow test below runs everything else."""
  proc = run_python(SCRIPT.replace("__FULL__", "False"), devices=4, timeout=900)
  assert proc.stdout.strip().endswith("OK"), proc.stdout


@pytest.mark.slow
def test_sharded_equals_unsharded_everything():
  """All estimators, one batch and a list of batches, Fisher and Lanczos (~1 min on 2 busy cores)."""
  proc = run_python(SCRIPT.replace("__FULL__", "True"), devices=4, timeout=900)
  assert proc.stdout.strip().endswith("OK"), proc.stdout
