"""Which machine measured a record, and how fast it is: the processor, the JAX build, and the time of one fixed
reference program, so that minutes measured on different machines can be compared.

Why. XLA compiles float arithmetic for the processor it runs on (vector widths, fused multiply-adds), so the same
code and seed give the same bits only on the same processor family and JAX build: a reproduction check names both
machines when they differ. And a cell of the tier measured on a machine 1.4× slower looks 1.4× slower whatever the
code did: the reference time says by how much each cell's machine differed.

The reference program (REFERENCE, version REFERENCE_VERSION; change the version with the program): ten steps of
gradient descent, in one `lax.scan`, on a transformer block written here in jax.numpy alone (width 64, 4 heads of 16,
FFN 256, 256 sequences of 16 tokens, float32): attention, MLP, layer norms, softmax — the kinds of work of the
training step at the cpu tier's sizes, about 1.3 GFLOP per step. It depends on no project code, so a change of the
training code leaves it as it is: the ratio of two cells' reference times is the ratio of their machines' speeds
on this kind of work, not of their code. Best of `rounds` calls after a compiling one, `jax.block_until_ready`.
"""
import functools
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

REFERENCE_VERSION = 1
REFERENCE = ("10 scanned SGD steps of a jax.numpy transformer block (d 64, 4 heads, FFN 256, 256 × 16 tokens, "
             f"float32; flatness_jax.parallel.machine, version {REFERENCE_VERSION})")
_D, _HEADS, _FFN, _BATCH, _LENGTH, _STEPS = 64, 4, 256, 256, 16, 10


def processor() -> str:
  """The processor's model name (/proc/cpuinfo's 'model name' on Linux, else platform.processor() or the machine
  type)."""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine() or "unknown"


def identity() -> dict:
  """{'processor', 'cores', 'backend', 'jax', 'jaxlib'}: what decides a run's bits and speed besides the code."""
  import jaxlib  # pylint: disable=g-import-not-at-top
  return {"processor": processor(), "cores": os.cpu_count() or 0, "backend": jax.default_backend(),
          "jax": jax.__version__, "jaxlib": jaxlib.__version__}


def _layer_norm(x):
  mean = x.mean(-1, keepdims=True)
  return (x - mean) * jax.lax.rsqrt(((x - mean) ** 2).mean(-1, keepdims=True) + 1e-6)


def _block(p, x):
  """A pre-LN transformer block on x [B, L, d]."""
  b, length, d = x.shape
  h = _layer_norm(x)
  q, k, v = (jnp.einsum("bld,de->ble", h, p[n]).reshape(b, length, _HEADS, d // _HEADS) for n in ("q", "k", "v"))
  att = jax.nn.softmax(jnp.einsum("blhe,bmhe->bhlm", q, k) / np.sqrt(d // _HEADS), axis=-1)
  x = x + jnp.einsum("bhlm,bmhe->blhe", att, v).reshape(b, length, d) @ p["o"]
  return x + jax.nn.gelu(_layer_norm(x) @ p["up"]) @ p["down"]


def _inputs():
  keys = jax.random.split(jax.random.key(0), 7)
  shapes = {"q": (_D, _D), "k": (_D, _D), "v": (_D, _D), "o": (_D, _D), "up": (_D, _FFN), "down": (_FFN, _D)}
  params = {n: jax.random.normal(k, s) / np.sqrt(s[0]) for k, (n, s) in zip(keys, sorted(shapes.items()))}
  return params, jax.random.normal(keys[6], (_BATCH, _LENGTH, _D))


@functools.partial(jax.jit, donate_argnums=(0,))
def _reference(params, x):
  def step(p, _):
    loss, grads = jax.value_and_grad(lambda q: jnp.mean(_block(q, x) ** 2))(p)
    return jax.tree.map(lambda a, g: a - 0.01 * g, p, grads), loss
  return jax.lax.scan(step, params, None, length=_STEPS)


def reference_ms(rounds: int = 5) -> float:
  """Milliseconds of one call of the reference program (module docstring): the best of `rounds` after one that
  compiles it."""
  params, x = _inputs()
  params, _ = jax.block_until_ready(_reference(params, x))
  best = float("inf")
  for _ in range(rounds):
    t = time.perf_counter()
    params, _ = jax.block_until_ready(_reference(params, x))
    best = min(best, time.perf_counter() - t)
  return 1e3 * best


def measure(rounds: int = 5) -> dict:
  """`identity()` with the reference program's time: {'reference_ms', 'reference'} added."""
  return {**identity(), "reference_ms": reference_ms(rounds), "reference": REFERENCE}


def same_bits_expected(a: dict, b: dict) -> bool:
  """Whether runs on machines `a` and `b` (`identity()` dicts) should give the same bits: same processor model,
  backend and JAX build."""
  keys = ("processor", "backend", "jax", "jaxlib")
  return all(a.get(k) == b.get(k) for k in keys)


def describe(m: dict) -> str:
  """One line: processor, cores, JAX build and, when measured, the reference time."""
  ref = f", reference {m['reference_ms']:.0f} ms" if m.get("reference_ms") else ""
  return f"{m.get('processor', 'unknown')} ({m.get('cores', '?')} cores, jax {m.get('jax', '?')}){ref}"


def merged(machines: list, entry: dict) -> list:
  """`machines` (a record's list of machine dicts) with `entry` folded in: an entry of the same machine
  (`same_bits_expected`) takes entry's fields (a newer reference time replaces the older), another is appended."""
  out, found = [], False
  for m in machines:
    if not found and same_bits_expected(m, entry) and m.get("cores") == entry.get("cores"):
      m, found = {**m, **entry}, True
    out.append(m)
  return out if found else out + [dict(entry)]

