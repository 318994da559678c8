"""Public trace entry points: any symmetric operator on pytrees, and the Hessian of a loss over batches.

    trace_estimate(matvec, like, key, method=..., num_matvecs=... | rtol=...)
    hessian_trace(loss_fn, params, batches, key, method=..., num_matvecs=... | rtol=...)

Methods: "hutchinson" (Hutchinson 1989), "hutchpp" (Meyer et al. 2021), "xtrace" (Epperly, Tropp & Webber 2024);
see their modules for the math and the error bars. All return a `TraceEstimate` (value, stderr, ci95, num_matvecs).

Probes are Rademacher by default, generated per leaf with the sharding of `like`/`params` and pushed through the
operator `chunk_size` at a time (vmapped within a chunk: memory grows with chunk_size; see
benchmarks/bench_curvature.py for the time/memory trade-off). `hessian_trace` on a single batch linearizes the
gradient once and maps every probe through the linear function; on a list of batches it linearizes each batch once
per pass over the data (fixed budget: Hutchinson one pass, Hutch++ two, XTrace two; adaptive: one pass per step of
max(16, chunk_size) probes), keeping one batch's residuals alive at a time.

Compilation is cached on (matvec or loss_fn, settings, shapes, shardings): calling `hessian_trace` again with the same
`loss_fn` at new parameter values (e.g. every checkpoint) reuses the compiled program, so pass the same function
object rather than a fresh lambda each time. The mask is a traced argument. Inside your own `jax.jit`/`vmap` the
fixed-budget methods and adaptive Hutchinson/Hutch++ are traceable; adaptive XTrace is host-driven and is not.
"""
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from flatness_curvature._blocks import apply_block
from flatness_curvature._hutchinson import hutchinson
from flatness_curvature._hutchpp import hutchpp
from flatness_curvature._hessian import hessian_operator, operator_from_matvec
from flatness_curvature._random_vectors import probe_shardings, probes, shape_struct
from flatness_curvature._filter_jit import freeze, hashable_fn, thaw
from flatness_curvature._xtrace import xtrace, xtrace_from_sketch

METHODS = ("hutchinson", "hutchpp", "xtrace")


class _Static(NamedTuple):
  """Everything static about one estimate (hashable: the jit cache key together with the argument shapes)."""
  kind: str                 # "matvec" (fn = matvec) or "hessian" (fn = loss_fn)
  fn: Callable
  like: Any                 # frozen ShapeDtypeStructs
  shardings: Any            # frozen per-leaf NamedSharding / None
  method: str
  num_matvecs: Any
  rtol: Any
  max_matvecs: int
  chunk_size: int
  distribution: str
  min_matvecs: int
  sketch_size: Any
  xtrace_error: str


def _operator(st, args, mask):
  if st.kind == "matvec":
    return operator_from_matvec(st.fn, mask=mask)
  params, batches = args
  return hessian_operator(st.fn, params, batches, mask=mask)


def _common(st, mask):
  return dict(chunk_size=st.chunk_size, distribution=st.distribution, mask=mask, shardings=thaw(st.shardings))


@functools.partial(jax.jit, static_argnames="st")
def _run(args, key, mask, st):
  op, like, common = _operator(st, args, mask), thaw(st.like), _common(st, mask)
  if st.method == "hutchinson":
    return hutchinson(op, like, key, num_matvecs=st.num_matvecs, rtol=st.rtol, min_matvecs=st.min_matvecs,
                      max_matvecs=st.max_matvecs, **common)
  if st.method == "hutchpp":
    return hutchpp(op, like, key, num_matvecs=st.num_matvecs, rtol=st.rtol, sketch_size=st.sketch_size,
                   min_matvecs=st.min_matvecs, max_matvecs=st.max_matvecs, **common)
  return xtrace(op, like, key, num_matvecs=st.num_matvecs, error_estimate=st.xtrace_error, **common)


@functools.partial(jax.jit, static_argnames=("st", "start", "num"))
def _xtrace_sketch(args, key, mask, st, start, num):
  common = _common(st, mask)
  omega = probes(key, start, num, thaw(st.like), distribution=st.distribution, mask=mask,
                 shardings=common["shardings"])
  return omega, apply_block(_operator(st, args, mask), omega, chunk_size=st.chunk_size,
                            shardings=common["shardings"])


@functools.partial(jax.jit, static_argnames="st")
def _xtrace_finish(args, omega, y, mask, st):
  return xtrace_from_sketch(_operator(st, args, mask), omega, y, chunk_size=st.chunk_size,
                            shardings=thaw(st.shardings), error_estimate=st.xtrace_error)


def _adaptive_xtrace(args, key, mask, st):
  """XTrace with doubling of the test-vector count until the relative SE is below rtol (see xtrace.py)."""
  s = max((st.num_matvecs or 12) // 2, 3)
  omega, y = _xtrace_sketch(args, key, mask, st=st, start=0, num=s)
  spent = s
  while True:
    est = _xtrace_finish(args, omega, y, mask, st=st)
    spent += s
    if float(est.stderr) <= st.rtol * abs(float(est.value)) or spent + 3 * s > st.max_matvecs:
      return est._replace(num_matvecs=spent)
    new_omega, new_y = _xtrace_sketch(args, key, mask, st=st, start=s, num=s)
    omega, y = (jax.tree.map(lambda a, b: jnp.concatenate([a, b]), old, new)
                for old, new in ((omega, new_omega), (y, new_y)))
    spent += s
    s *= 2


def _estimate(kind, fn, args, like, key, *, method, num_matvecs, rtol, max_matvecs, chunk_size, distribution, mask,
              min_matvecs, sketch_size, xtrace_error):
  """Validates, builds the static description and runs (compiled once per static description and shapes)."""
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")
  if num_matvecs is None and rtol is None:
    raise ValueError("give num_matvecs (a fixed budget) or rtol (adaptive), or both")
  if rtol is not None and not rtol > 0:
    raise ValueError(f"rtol={rtol!r}: rtol is the relative standard error an adaptive estimate stops at and must "
                     "be > 0; for a fixed budget pass rtol=None with num_matvecs")
  if rtol is None and num_matvecs < (1 if method == "hutchinson" else 2):
    raise ValueError("a standard error needs num_matvecs >= 2 (Hutchinson accepts 1: a value without an error bar)")
  st = _Static(kind, hashable_fn(fn), freeze(shape_struct(like)), freeze(probe_shardings(like), none_is_leaf=True),
               method, num_matvecs, rtol, max_matvecs, chunk_size, distribution, min_matvecs, sketch_size, xtrace_error)
  if method == "xtrace" and rtol is not None:
    return _adaptive_xtrace(args, key, mask, st)
  return _run(args, key, mask, st=st)


def trace_estimate(matvec, like, key, *, method="hutchinson", num_matvecs=None, rtol=None, max_matvecs=1000,
                   chunk_size=1, distribution="rademacher", mask=None, min_matvecs=10, sketch_size=None,
                   xtrace_error="jackknife"):
  """Estimates tr(A) for a symmetric linear operator A on pytrees shaped like `like`.

  Args:
    matvec: v ↦ A v on pytrees shaped like `like` (must be traceable: it runs under jit, vmap and lax.map).
    like: a pytree of arrays (or ShapeDtypeStructs) giving shapes, dtypes and shardings of the vectors.
    key: a jax.random key; the probes are a pure function of it.
    method: "hutchinson", "hutchpp" or "xtrace".
    num_matvecs: fixed budget of products (with rtol: the initial / minimum budget; for Hutch++ it sets the sketch
      size num_matvecs // 3). Hutchinson with num_matvecs=1 gives an unbiased value with stderr nan (a stochastic
      penalty term needs no error bar); every other estimate needs at least 2.
    rtol: stop once stderr ≤ rtol·|value| (adaptive), capped by max_matvecs; must be > 0. None (the default)
      means a fixed budget of num_matvecs: rtol=0 is rejected rather than read as "never stop".
    chunk_size: how many probes are vmapped together through the matvec (memory grows with it; 1 = sequential).
    distribution: "rademacher" (default) or "gaussian".
    mask: a pytree of bools/boolean arrays; the operator becomes P A P on the masked entries (see masks.py).
    min_matvecs: adaptive mode only: never stop before this many products.
    sketch_size: Hutch++ only: override the sketch size.
    xtrace_error: XTrace only: "jackknife" (default; conservative) or "xtrace" (the authors' std/√s, which
      undercovers: see xtrace.py).

  Returns:
    TraceEstimate(value, stderr, num_matvecs, dof) with `.ci95`.
  """
  return _estimate("matvec", matvec, (), like, key, method=method,
                   num_matvecs=num_matvecs, rtol=rtol, max_matvecs=max_matvecs, chunk_size=chunk_size,
                   distribution=distribution, mask=mask, min_matvecs=min_matvecs, sketch_size=sketch_size,
                   xtrace_error=xtrace_error)


def hessian_trace(loss_fn, params, batches, key, *, method="hutchinson", num_matvecs=None, rtol=None,
                  max_matvecs=1000, chunk_size=1, distribution="rademacher", mask=None, min_matvecs=10,
                  sketch_size=None, xtrace_error="jackknife"):
  """Estimates tr ∇²_θ L(θ) at θ = params for L = mean over `batches` of loss_fn(θ, batch).

  `batches` is a Python list of batches or a single batch (any other pytree, including a tuple (x, y)). Keyword
  arguments as in `trace_estimate`; `num_matvecs` counts products with the batch-averaged Hessian.
  """
  return _estimate("hessian", loss_fn, (params, batches), params, key,
                   method=method, num_matvecs=num_matvecs, rtol=rtol, max_matvecs=max_matvecs,
                   chunk_size=chunk_size, distribution=distribution, mask=mask, min_matvecs=min_matvecs,
                   sketch_size=sketch_size, xtrace_error=xtrace_error)
