"""benchmarks/step_anatomy: the products read from a lowered program, their FLOPs against XLA's cost analysis."""
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import step_anatomy


def _program(a, b, q, k, w):
  """Three products: a plain GEMM, a batched attention-like product and a contraction over two dimensions."""
  s = jnp.einsum("bhqd,bhkd->bhqk", q, k)
  t = jnp.einsum("btd,dhe->bthe", a, w)
  return (a.reshape(-1, 8) @ b).sum() + s.sum() + t.sum()


ARGS = (jnp.ones((3, 5, 8)), jnp.ones((8, 7)), jnp.ones((2, 4, 6, 8)), jnp.ones((2, 4, 9, 8)), jnp.ones((8, 2, 3)))


def test_reads_every_product_with_its_shapes_and_dimension_numbers():
  dots = step_anatomy.dot_generals(jax.jit(_program).lower(*ARGS).as_text())
  assert len(dots) == 3
  for d in dots:  # each parsed product runs in lax.dot_general with the parsed numbers and gives the parsed shape
    out = jax.eval_shape(lambda x, y, d=d: jax.lax.dot_general(x, y, d.dims),
                         jax.ShapeDtypeStruct(d.lhs, jnp.float32), jax.ShapeDtypeStruct(d.rhs, jnp.float32))
    assert out.shape == d.out and d.dtype == "f32"
  assert sorted(d.out for d in dots) == sorted([(15, 7), (2, 4, 6, 9), (3, 5, 2, 3)])


def test_flops_of_the_products_of_a_gradient_match_xla_cost_analysis():
  """The backward pass adds products with batch and multi-dimension contractions; XLA's cost analysis of a program
  made of products (and their free reshapes and sums) counts the same multiply-adds."""
  lowered = jax.jit(jax.grad(_program, argnums=(0, 1, 2, 3, 4))).lower(*ARGS)
  dots = step_anatomy.dot_generals(lowered.as_text())
  assert len(dots) == 6  # two per product: one for each operand's gradient
  ours = sum(step_anatomy.dot_flops(d) for d in dots)
  cost = lowered.compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  brute = 2 * (15 * 8 * 7 * 2 + 2 * 4 * 6 * 9 * 8 * 2 + 15 * 8 * 6 * 2)  # each forward product's 2·MNK, twice
  assert ours == brute
  assert ours <= cost["flops"] <= ours * 1.05  # the rest: the sums' broadcasts


def test_time_dots_times_each_product_at_its_shapes():
  """A product of 512x the FLOPs (32^3 -> 256^3 GEMM) takes longer (a ratio no load on the other core flips: 64^3 ->
  128^3 did once in CI-like parallel runs); the same product listed three times is timed once and counted three
  times."""
  def dots(n):
    return step_anatomy.dot_generals(jax.jit(jnp.matmul).lower(jnp.ones((n, n)), jnp.ones((n, n))).as_text())
  seconds = lambda ds: step_anatomy.total_seconds(step_anatomy.time_dots(ds, 0.01))
  small, big = seconds(dots(32)), seconds(dots(256))
  assert 0 < small < big and np.isfinite(big)
  timed = step_anatomy.time_dots(dots(128) * 3, 0.01)
  assert [(d, count) for d, count, _ in timed] == [(dots(128)[0], 3)]
  assert step_anatomy.total_seconds(timed) == 3 * timed[0][2]
