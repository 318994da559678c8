"""Public trace entry points: any symmetric operator on pytrees, and the Hessian of a loss over batches.

    trace_estimate(matvec, like, key, method=..., num_matvecs=... | rtol=...)
    hessian_trace(loss_fn, params, batches, key, method=..., num_matvecs=... | rtol=...)

Methods: "hutchinson" (Hutchinson 1989), "hutchpp" (Meyer et al. 2021), "xtrace" (Epperly, Tropp & Webber 2024);
see their modules for the math and the error bars. All return a `TraceEstimate` (value, stderr, ci95, num_matvecs).

Probes are Rademacher by default, generated per leaf with the sharding of `like`/`params` and pushed through the
operator `chunk_size` at a time. `hessian_trace` linearizes the gradient once per batch per pass over the data
(Hutchinson with a fixed budget: one pass; Hutch++: two; XTrace: two; adaptive Hutchinson: one per chunk, so raise
`chunk_size` to amortise), then maps probes through the linear function.

Each call compiles once (the operator is a fresh closure); inside your own `jax.jit`/`vmap` the fixed-budget methods
and adaptive Hutchinson/Hutch++ are traceable, adaptive XTrace is host-driven and is not.
"""
import functools

import jax

from flatness_jax.curvature.blocks import apply_block
from flatness_jax.curvature.hutchinson import hutchinson
from flatness_jax.curvature.hutchpp import hutchpp
from flatness_jax.curvature.hvp import hessian_operator, operator_from_matvec
from flatness_jax.curvature.probes import probe_shardings, probes, shape_struct
from flatness_jax.curvature.xtrace import xtrace, xtrace_from_sketch

METHODS = ("hutchinson", "hutchpp", "xtrace")


def _estimate(make_op, args, like, key, *, method, num_matvecs, rtol, max_matvecs, chunk_size, distribution, mask,
              min_matvecs=10, sketch_size=None, xtrace_error="jackknife"):
  """Runs `method` on the operator make_op(*args) (args are jit arguments, e.g. params and batches)."""
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")
  if num_matvecs is None and rtol is None:
    raise ValueError("give num_matvecs (a fixed budget) or rtol (adaptive), or both")
  shardings = probe_shardings(like)
  like = shape_struct(like)
  common = dict(chunk_size=chunk_size, distribution=distribution, mask=mask, shardings=shardings)
  if method == "xtrace" and rtol is not None:
    return _adaptive_xtrace(make_op, args, like, key, num_matvecs=num_matvecs or 12, rtol=rtol,
                            max_matvecs=max_matvecs, error_estimate=xtrace_error, **common)
  if method == "hutchinson":
    fn = functools.partial(hutchinson, num_matvecs=num_matvecs, rtol=rtol, min_matvecs=min_matvecs,
                           max_matvecs=max_matvecs, **common)
  elif method == "hutchpp":
    fn = functools.partial(hutchpp, num_matvecs=num_matvecs, rtol=rtol, sketch_size=sketch_size,
                           min_matvecs=min_matvecs, max_matvecs=max_matvecs, **common)
  else:
    fn = functools.partial(xtrace, num_matvecs=num_matvecs, error_estimate=xtrace_error, **common)
  return jax.jit(lambda a, k: fn(make_op(*a), like, k))(args, key)


def _adaptive_xtrace(make_op, args, like, key, *, num_matvecs, rtol, max_matvecs, chunk_size, distribution, mask,
                     shardings, error_estimate):
  """XTrace with doubling of the test-vector count until the relative SE is below rtol (see xtrace.py)."""
  s = max(num_matvecs // 2, 3)
  kw = dict(distribution=distribution, mask=mask, shardings=shardings)

  @functools.partial(jax.jit, static_argnums=(2, 3))
  def sketch(a, k, start, num):
    omega = probes(k, start, num, like, **kw)
    return omega, apply_block(make_op(*a), omega, chunk_size=chunk_size, shardings=shardings)

  finish = jax.jit(lambda a, om, y: xtrace_from_sketch(make_op(*a), om, y, chunk_size=chunk_size,
                                                       shardings=shardings, error_estimate=error_estimate))
  omega, y = sketch(args, key, 0, s)
  spent = s
  while True:
    est = finish(args, omega, y)
    spent += s
    if float(est.stderr) <= rtol * abs(float(est.value)) or spent + 3 * s > max_matvecs:
      return est._replace(num_matvecs=spent)
    new_omega, new_y = sketch(args, key, s, s)
    omega, y = (jax.tree.map(lambda a, b: jax.numpy.concatenate([a, b]), old, new)
                for old, new in ((omega, new_omega), (y, new_y)))
    spent += s
    s *= 2


def trace_estimate(matvec, like, key, *, method="hutchinson", num_matvecs=None, rtol=None, max_matvecs=1000,
                   chunk_size=16, distribution="rademacher", mask=None, min_matvecs=10, sketch_size=None,
                   xtrace_error="jackknife"):
  """Estimates tr(A) for a symmetric linear operator A on pytrees shaped like `like`.

  Args:
    matvec: v ↦ A v on pytrees shaped like `like` (must be traceable: it runs under jit, vmap and lax.map).
    like: a pytree of arrays (or ShapeDtypeStructs) giving shapes, dtypes and shardings of the vectors.
    key: a jax.random key; the probes are a pure function of it.
    method: "hutchinson", "hutchpp" or "xtrace".
    num_matvecs: fixed budget of products (with rtol: the initial / minimum budget; for Hutch++ it sets the sketch
      size num_matvecs // 3).
    rtol: stop once stderr ≤ rtol·|value| (adaptive), capped by max_matvecs.
    chunk_size: how many probes are vmapped together through the matvec.
    distribution: "rademacher" (default) or "gaussian".
    mask: a pytree of bools/boolean arrays; the operator becomes P A P on the masked entries (see masks.py).
    min_matvecs: adaptive mode only: never stop before this many products.
    sketch_size: Hutch++ only: override the sketch size.
    xtrace_error: XTrace only: "jackknife" (default; conservative) or "xtrace" (the authors' std/√s, which
      undercovers: see xtrace.py).

  Returns:
    TraceEstimate(value, stderr, num_matvecs, dof) with `.ci95`.
  """
  return _estimate(lambda: operator_from_matvec(matvec, mask=mask), (), like, key, method=method,
                   num_matvecs=num_matvecs, rtol=rtol, max_matvecs=max_matvecs, chunk_size=chunk_size,
                   distribution=distribution, mask=mask, min_matvecs=min_matvecs, sketch_size=sketch_size,
                   xtrace_error=xtrace_error)


def hessian_trace(loss_fn, params, batches, key, *, method="hutchinson", num_matvecs=None, rtol=None,
                  max_matvecs=1000, chunk_size=16, distribution="rademacher", mask=None, min_matvecs=10,
                  sketch_size=None, xtrace_error="jackknife"):
  """Estimates tr ∇²_θ L(θ) at θ = params for L = mean over `batches` of loss_fn(θ, batch).

  `batches` is a Python list of batches or a single batch (any other pytree, including a tuple (x, y)). Keyword
  arguments as in `trace_estimate`; `num_matvecs` counts products with the batch-averaged Hessian.
  """
  return _estimate(lambda p, b: hessian_operator(loss_fn, p, b, mask=mask), (params, batches), params, key,
                   method=method, num_matvecs=num_matvecs, rtol=rtol, max_matvecs=max_matvecs,
                   chunk_size=chunk_size, distribution=distribution, mask=mask, min_matvecs=min_matvecs,
                   sketch_size=sketch_size, xtrace_error=xtrace_error)
