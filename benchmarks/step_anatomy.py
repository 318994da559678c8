"""Where a training step's time goes: its matrix products, each timed alone at its own shapes, against the rest.

A step of F FLOPs taking t seconds reaches F / t FLOP/s; against a large GEMM's peak P that is (F / t) / P. The
step's products (every `stablehlo.dot_general` of the lowered one-step program, forward, backward and the head)
carry F_mm of the F FLOPs; run alone, back to back, at their own shapes, they take t_mm. Then

    F_mm / t_mm / P   the fraction of the peak these shapes reach at all (a ceiling on the step's fraction when the
                      products are most of its FLOPs: the remaining work only adds time);
    1 - t_mm / t      the share of the step in everything else (elementwise ops, softmax, layer norm, gathers of
                      masked positions, the optimizer update, the scan's loop).

`dot_generals(text)` reads the products from the lowered program's text (StableHLO); `dot_flops` counts one
product's FLOPs as 2·|out|·Π(contracted sizes), the count XLA's cost analysis uses; `time_dots(dots, seconds)`
times each distinct product alone (a jitted `lax.dot_general` on random inputs of its shapes, `seconds_per_call`:
called back to back so dispatch overlaps the computation, as the peak GEMM is timed) and `total_seconds` sums them
over one step.
"""
import collections
import dataclasses
import math
import re
import time

import jax
import jax.numpy as jnp

_DOT = re.compile(
    r"stablehlo\.dot_general\s+%[\w#.]+,\s*%[\w#.]+,\s*"
    r"(?:batching_dims\s*=\s*\[(?P<lb>[\d,\s]*)\]\s*x\s*\[(?P<rb>[\d,\s]*)\],\s*)?"
    r"contracting_dims\s*=\s*\[(?P<lc>[\d,\s]*)\]\s*x\s*\[(?P<rc>[\d,\s]*)\]"
    r".*?:\s*\(tensor<(?P<lhs>[^>]*)>,\s*tensor<(?P<rhs>[^>]*)>\)\s*->\s*tensor<(?P<out>[^>]*)>")
_DTYPES = {"f32": "float32", "f64": "float64", "bf16": "bfloat16", "f16": "float16"}  # StableHLO -> numpy names


@dataclasses.dataclass(frozen=True)
class Dot:
  """One matrix product: operand shapes, dimension numbers ((lhs_contract, rhs_contract), (lhs_batch,
  rhs_batch)) as `lax.dot_general` takes them, the output shape and the element type."""
  lhs: tuple
  rhs: tuple
  dims: tuple
  out: tuple
  dtype: str


def _ints(s):
  return tuple(int(x) for x in s.split(",") if x.strip()) if s else ()


def _shape(t):
  *dims, dtype = t.split("x")
  return tuple(int(d) for d in dims), dtype


def dot_generals(text: str) -> list:
  """Every `stablehlo.dot_general` of a lowered program's text, in order (a product the program runs twice appears
  twice; one inside a loop body appears once, as XLA's cost analysis counts it)."""
  dots = []
  for m in _DOT.finditer(text):
    (lhs, dtype), (rhs, _), (out, _) = _shape(m["lhs"]), _shape(m["rhs"]), _shape(m["out"])
    dims = ((_ints(m["lc"]), _ints(m["rc"])), (_ints(m["lb"]), _ints(m["rb"])))
    dots.append(Dot(lhs, rhs, dims, out, dtype))
  return dots


def dot_flops(d: Dot) -> int:
  """2·|out|·Π(lhs sizes along the contracted dimensions): one multiply and one add per term."""
  return 2 * math.prod(d.out) * math.prod(d.lhs[i] for i in d.dims[0][0])


def seconds_per_call(f, *args, seconds: float = 0.05) -> float:
  """Seconds one call of the jitted `f(*args)` takes, warm: the best of three timings of back-to-back calls lasting
  about `seconds` (dispatch overlaps the computation, as the peak GEMM is timed)."""
  out = jax.block_until_ready(f(*args))
  t = time.perf_counter()
  jax.block_until_ready(f(*args))
  reps = max(1, int(seconds / max(time.perf_counter() - t, 1e-6)))
  best = math.inf
  for _ in range(3):
    t = time.perf_counter()
    for _ in range(reps):
      out = f(*args)
    jax.block_until_ready(out)
    best = min(best, (time.perf_counter() - t) / reps)
  return best


def time_dots(dots, seconds: float = 0.05) -> list:
  """Each distinct product of `dots` timed alone at its shapes (`seconds_per_call`): [(Dot, count, seconds per
  call)], in first-seen order."""
  timed = []
  for i, (d, count) in enumerate(collections.Counter(dots).items()):
    ka, kb = jax.random.split(jax.random.key(i))
    a = jax.random.normal(ka, d.lhs, jnp.dtype(_DTYPES.get(d.dtype, d.dtype)))
    b = jax.random.normal(kb, d.rhs, a.dtype)
    f = jax.jit(lambda x, y, dims=d.dims: jax.lax.dot_general(x, y, dims))
    timed.append((d, count, seconds_per_call(f, a, b, seconds=seconds)))
  return timed


def total_seconds(timed) -> float:
  """Seconds of one pass over the products `time_dots` timed: Σ count · seconds per call."""
  return sum(count * sec for _, count, sec in timed)


def describe(d: Dot) -> str:
  """'lhs · rhs -> out' with the contracted and batch dimensions, e.g. '4096x128 · 128x512 -> 4096x512'."""
  shape = lambda t: "x".join(map(str, t))
  batch = f" batch {d.dims[1][0]}" if d.dims[1][0] else ""
  return f"{shape(d.lhs)} · {shape(d.rhs)} -> {shape(d.out)} (contract {d.dims[0][0]}x{d.dims[0][1]}{batch})"

