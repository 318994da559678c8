"""One executable per program in a process: `shared(jitted, devices)` runs a `jax.jit` function through an executable
that every wrapper of the same program shares, compiled by the first caller while later callers wait for it.

Runs trained at once on host threads (flatness_jax.jobs.concurrent_runs) each build their own jitted training chunk,
a closure over their own model and optimizer objects, so JAX's per-function cache cannot see that two seeds of one
arm run the same program: both compiled it at the same time, each on half the cores, and the persistent compilation
cache (flatness_jax.parallel.compile_cache) serves only a run that starts after the first one finished compiling.
Here a program is its lowered module (StableHLO text: shapes, shardings, donation, every constant), its argument and
result trees, and a tuple of devices; equal keys run one executable, so the bytes a run computes are those of its own
compilation.

An executable is shared while a wrapper holds it (the table's reference is weak), and `clear()` forgets them all (the
tier calls it with jax.clear_caches after each cell). A failed compilation is not kept: each waiting caller then
compiles for itself and sees the error itself.
"""
import hashlib
import threading
import weakref

import jax

_LOCK = threading.Lock()
_PROGRAMS: dict = {}  # (module digest, argument tree, result tree, device ids) -> _Program


class _Program:
  def __init__(self):
    self.ready = threading.Event()
    self.ref = None  # weakref to the executable once compiled

  def get(self):
    return self.ref() if self.ref is not None else None


def compiled_for(lowered, devices):
  """The executable of `lowered` (a jax.stages.Lowered) on `devices`: compiled here by the first caller of this
  program in the process, shared with every later one (who waits while it compiles) for as long as a caller holds
  it (the table keeps a weak reference: programs of finished runs are freed as JAX's own caches free them)."""
  key = (hashlib.sha256(lowered.as_text().encode()).hexdigest(), str(lowered.in_tree), str(lowered.out_tree),
         tuple(d.id for d in devices))
  with _LOCK:
    program = _PROGRAMS.get(key)
    if program is not None and program.ready.is_set() and program.get() is None:
      program = None  # compiled once, failed or freed since: this caller compiles it again
    owner = program is None
    if owner:
      program = _PROGRAMS[key] = _Program()
  if not owner:
    program.ready.wait()
    compiled = program.get()
    return compiled if compiled is not None else lowered.compile()
  try:
    compiled = lowered.compile()
    program.ref = weakref.ref(compiled)
  except BaseException:
    with _LOCK:
      if _PROGRAMS.get(key) is program:
        del _PROGRAMS[key]
    raise
  finally:
    program.ready.set()
  return compiled


def _signature(args) -> tuple:
  """What jax.jit specialises a call on: the argument tree, and each leaf's type (shape, dtype, weak type) and
  sharding."""
  leaves, tree = jax.tree.flatten(args)
  return tree, tuple((jax.typeof(x), getattr(x, "sharding", None)) for x in leaves)


def shared(jitted, devices):
  """fn(*args) = jitted(*args), run by the executable `compiled_for` shares (one per argument signature).
  `devices`: those the program runs on (a mesh's devices.flat)."""
  devices = tuple(devices)
  mine: dict = {}

  def call(*args):
    sig = _signature(args)
    compiled = mine.get(sig)
    if compiled is None:
      compiled = mine[sig] = compiled_for(jitted.lower(*args), devices)
    return compiled(*args)
  call.executables = mine  # argument signature -> executable: one per program this wrapper has run
  return call


def clear() -> None:
  """Forgets every shared executable (those a wrapper already holds stay with it)."""
  with _LOCK:
    _PROGRAMS.clear()
