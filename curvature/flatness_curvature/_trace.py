"""Public trace entry points: any symmetric operator on pytrees, and the Hessian of a loss over batches.

    trace_estimate(matvec, like, key, method=..., num_matvecs=... | rtol=...)
    hessian_trace(loss_fn, params, batches, key, method=..., num_matvecs=... | rtol=...)

Methods: "hutchinson" (Hutchinson 1989), "hutchpp" (Meyer et al. 2021), "xtrace" (Epperly, Tropp & Webber 2024);
see their modules for the math and the error bars. All return a `TraceEstimate` (value, stderr, ci95, num_matvecs,
dof, converged); an adaptive estimate that stops at `max_matvecs` before its `rtol` has converged=False and warns
(`ConvergenceWarning`).

Random vectors are Rademacher by default, generated per leaf with the sharding of `like`/`params` and pushed through
the operator `chunk_size` at a time (vmapped within a chunk: memory grows with chunk_size; see
benchmarks/bench_curvature.py for the time/memory trade-off). An Operator (`hessian_matvec`, `ggn_matvec`,
`fisher_matvec`, ...) is linearized once per pass over its batches (fixed budget: Hutchinson one pass, Hutch++ two,
XTrace two; adaptive: one pass per step of max(16, chunk_size) vectors), keeping one batch's residuals alive at a
time; a plain matvec function is applied as is.

Compilation is cached on the functions and settings and the shapes (_filter_jit.py): calling `hessian_trace` again
with the same `loss_fn` at new parameter values (e.g. every checkpoint) reuses the compiled program, so pass the same
function object rather than a fresh lambda each time. Inside your own `jax.jit`/`vmap` the fixed-budget methods and
adaptive Hutchinson/Hutch++ are traceable; adaptive XTrace is host-driven and is not.
"""
import jax
import jax.numpy as jnp

from flatness_curvature._blocks import apply_block
from flatness_curvature._checks import check_int, check_key, check_params
from flatness_curvature._convergence import warn_unless_converged
from flatness_curvature._filter_jit import filter_jit
from flatness_curvature._hessian import hessian_matvec
from flatness_curvature._hutchinson import hutchinson
from flatness_curvature._hutchpp import hutchpp
from flatness_curvature._operator import as_operator
from flatness_curvature._precision import working_like
from flatness_curvature._random_vectors import DISTRIBUTIONS, random_vectors, vector_shardings
from flatness_curvature._xtrace import xtrace, xtrace_from_sketch

METHODS = ("hutchinson", "hutchpp", "xtrace")


def check_budget(method, num_matvecs, rtol, max_matvecs, chunk_size, distribution, min_matvecs, sketch_size):
  """One sentence per inconsistent budget, before any compilation."""
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")
  if distribution not in DISTRIBUTIONS:
    raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
  if num_matvecs is None and rtol is None:
    raise ValueError("give num_matvecs (a fixed budget) or rtol (adaptive), or both")
  if rtol is not None and not rtol > 0:
    raise ValueError(f"rtol={rtol!r}: rtol is the relative standard error an adaptive estimate stops at and must "
                     "be > 0; for a fixed budget pass rtol=None with num_matvecs")
  check_int(chunk_size, "chunk_size")
  check_int(max_matvecs, "max_matvecs")
  check_int(min_matvecs, "min_matvecs")
  if num_matvecs is not None:
    check_int(num_matvecs, "num_matvecs")
  if sketch_size is not None:
    check_int(sketch_size, "sketch_size")
  if rtol is None:
    if num_matvecs < 2 and method != "hutchinson":
      raise ValueError("a standard error needs num_matvecs >= 2 (Hutchinson accepts 1: a value without an error bar)")
    k = sketch_size if sketch_size is not None else num_matvecs // 3
    if method == "hutchpp" and (k < 1 or num_matvecs - 2 * k < 2):
      raise ValueError(f"hutchpp needs num_matvecs >= {2 * max(k, 1) + 2} (sketch {max(k, 1)}, two products "
                       f"per sketch vector and two residual vectors at least), got {num_matvecs}")
    if method == "xtrace" and num_matvecs < 6:
      raise ValueError(f"xtrace needs num_matvecs >= 6 (3 test vectors, two products each), got {num_matvecs}")


@filter_jit
def _run(op, key, like, shardings, *, method, num_matvecs, rtol, max_matvecs, chunk_size, distribution, mask,
         min_matvecs, sketch_size, xtrace_error):
  common = dict(chunk_size=chunk_size, distribution=distribution, mask=mask, shardings=shardings)
  if method == "hutchinson":
    return hutchinson(op, like, key, num_matvecs=num_matvecs, rtol=rtol, min_matvecs=min_matvecs,
                      max_matvecs=max_matvecs, **common)
  if method == "hutchpp":
    return hutchpp(op, like, key, num_matvecs=num_matvecs, rtol=rtol, sketch_size=sketch_size,
                   min_matvecs=min_matvecs, max_matvecs=max_matvecs, **common)
  return xtrace(op, like, key, num_matvecs=num_matvecs, error_estimate=xtrace_error, **common)


@filter_jit
def _xtrace_sketch(op, key, like, shardings, *, start, num, chunk_size, distribution, mask):
  omega = random_vectors(key, start, num, like, distribution=distribution, mask=mask, shardings=shardings)
  return omega, apply_block(op, omega, chunk_size=chunk_size, shardings=shardings)


@filter_jit
def _xtrace_finish(op, omega, y, shardings, *, chunk_size, xtrace_error):
  return xtrace_from_sketch(op, omega, y, chunk_size=chunk_size, shardings=shardings, error_estimate=xtrace_error)


def _adaptive_xtrace(op, key, like, shardings, *, num_matvecs, rtol, max_matvecs, chunk_size, distribution, mask,
                     xtrace_error, **_):
  """XTrace with doubling of the test-vector count until the relative SE is below rtol (see _xtrace.py)."""
  s = max((num_matvecs or 12) // 2, 3)
  sketch = dict(chunk_size=chunk_size, distribution=distribution, mask=mask)
  omega, y = _xtrace_sketch(op, key, like, shardings, start=0, num=s, **sketch)
  spent = s
  while True:
    est = _xtrace_finish(op, omega, y, shardings, chunk_size=chunk_size, xtrace_error=xtrace_error)
    spent += s
    converged = float(est.stderr) <= rtol * abs(float(est.value))
    if converged or spent + 3 * s > max_matvecs:
      return est._replace(num_matvecs=spent, converged=jnp.asarray(converged))
    new_omega, new_y = _xtrace_sketch(op, key, like, shardings, start=s, num=s, **sketch)
    omega, y = (jax.tree.map(lambda a, b: jnp.concatenate([a, b]), old, new)
                for old, new in ((omega, new_omega), (y, new_y)))
    spent += s
    s *= 2


def estimate_trace(op, like, key, *, name, method, num_matvecs, rtol, max_matvecs, chunk_size, distribution,
                   mask, min_matvecs, sketch_size, xtrace_error):
  """The trace of an Operator by `method` (checked settings), with the convergence warning."""
  check_budget(method, num_matvecs, rtol, max_matvecs, chunk_size, distribution, min_matvecs, sketch_size)
  if xtrace_error not in ("jackknife", "xtrace"):
    raise ValueError(f"xtrace_error must be 'jackknife' or 'xtrace', got {xtrace_error!r}")
  settings = dict(method=method, num_matvecs=num_matvecs, rtol=rtol, max_matvecs=max_matvecs, chunk_size=chunk_size,
                  distribution=distribution, mask=mask, min_matvecs=min_matvecs, sketch_size=sketch_size,
                  xtrace_error=xtrace_error)
  run = _adaptive_xtrace if (method == "xtrace" and rtol is not None) else _run
  est = run(op, key, working_like(like), vector_shardings(like), **settings)
  if rtol is not None:
    warn_unless_converged(est.converged, f"{name}: rtol={rtol} not reached within max_matvecs={max_matvecs}: "
                          "stopped after {n} products at a relative standard error of {rel}; raise max_matvecs "
                          "or rtol", n=est.num_matvecs, rel=est.stderr / jnp.abs(est.value))
  return est


def trace_estimate(matvec, like, key, *, method="hutchinson", num_matvecs=None, rtol=None, max_matvecs=1000,
                   chunk_size=1, distribution="rademacher", mask=None, min_matvecs=10, sketch_size=None,
                   xtrace_error="jackknife"):
  """Estimates tr(A) for a symmetric linear operator A on pytrees shaped like `like`.

  Args:
    matvec: v ↦ A v on pytrees shaped like `like` (traceable: it runs under jit, vmap and lax.map), or an Operator
      (hessian_matvec, ggn_matvec, fisher_matvec, ...: linearized once per pass over its batches).
    like: a pytree of floating-point arrays (or ShapeDtypeStructs) giving shapes, dtypes and shardings of the
      vectors; narrow dtypes (bf16) are worked in float32.
    key: a jax.random key; the random vectors are a pure function of it.
    method: "hutchinson", "hutchpp" or "xtrace".
    num_matvecs: fixed budget of products (with rtol: the initial / minimum budget; for Hutch++ it sets the sketch
      size num_matvecs // 3, 10 when only rtol is given). Hutchinson with num_matvecs=1 gives an unbiased value
      with stderr inf (a stochastic penalty term needs no error bar); every other estimate needs at least 2.
    rtol: stop once stderr ≤ rtol·|value| (adaptive), capped by max_matvecs (then converged=False and a
      ConvergenceWarning); must be > 0. None (the default) means a fixed budget of num_matvecs.
    chunk_size: how many random vectors are vmapped together through the matvec (memory grows with it).
    distribution: "rademacher" (default) or "gaussian".
    mask: a pytree of bools/boolean arrays; the operator becomes P A P on the masked entries (see _masks.py).
    min_matvecs: adaptive mode only: never stop before this many products.
    sketch_size: Hutch++ only: override the sketch size.
    xtrace_error: XTrace only: "jackknife" (default; conservative) or "xtrace" (the authors' std/√s, which
      undercovers: see _xtrace.py).

  Returns:
    TraceEstimate(value, stderr, num_matvecs, dof, converged) with `.ci95`.
  """
  check_params(like, "like", structs_ok=True)
  key = check_key(key)
  return estimate_trace(as_operator(matvec, like, mask), like, key, name="trace_estimate", method=method,
                        num_matvecs=num_matvecs, rtol=rtol, max_matvecs=max_matvecs, chunk_size=chunk_size,
                        distribution=distribution, mask=mask, min_matvecs=min_matvecs, sketch_size=sketch_size,
                        xtrace_error=xtrace_error)


def hessian_trace(loss_fn, params, batches, key, *, method="hutchinson", num_matvecs=None, rtol=None,
                  max_matvecs=1000, chunk_size=1, distribution="rademacher", mask=None, min_matvecs=10,
                  sketch_size=None, xtrace_error="jackknife", has_aux=False, num_examples=None):
  """Estimates tr ∇²_θ L(θ) at θ = params for L = the mean loss over all examples of `batches`.

  `batches` is one batch, a list of batches or an iterable of batches (a generator, a data loader): see
  _batches.py for the contract (a tuple is one batch; uneven batches are weighted by their example counts, read
  from the leading axis of every leaf or given as `num_examples`). `has_aux`: loss_fn returns (loss, aux). Keyword
  arguments as in `trace_estimate`; `num_matvecs` counts products with the batch-averaged Hessian.
  """
  op = hessian_matvec(loss_fn, params, batches, has_aux=has_aux, num_examples=num_examples, mask=mask)
  key = check_key(key)
  return estimate_trace(op, params, key, name="hessian_trace", method=method, num_matvecs=num_matvecs, rtol=rtol,
                        max_matvecs=max_matvecs, chunk_size=chunk_size, distribution=distribution, mask=mask,
                        min_matvecs=min_matvecs, sketch_size=sketch_size, xtrace_error=xtrace_error)
