"""Where a job's time goes: wall seconds per stage, and how much of it was JAX tracing and XLA compilation.

`StageTimes` listens to JAX's monitoring events (jax.monitoring): the durations of tracing
('/jax/core/compile/jaxpr_trace_duration'), lowering to StableHLO ('.../jaxpr_to_mlir_module_duration') and XLA
compilation ('.../backend_compile_duration'), and the persistent cache's hits ('/jax/compilation_cache/cache_hits').
`with times.stage("train"):` attributes what happens inside to that stage; `table()` prints them and `write()` adds
them to a workdir's timings.json: each stage's seconds summed over every call that ran it (a killed and resumed
training counts both parts, a report-only rerun adds its report time), so timings.json is what the workdir cost.
`StageTimes(path)` adds each stage to `path` as the stage ends (raising or not), so a process killed later (the
machine gone, SIGKILL) keeps the time of every stage it finished; only the stage it was in is lost.

Stages at once on host threads (training some runs while measuring others, flatness_jax.jobs.pipeline): inside
`with times.overlapped():` each thread wraps its work in `with times.part(stage):`, which attributes that thread's
tracing and compilation to `stage` and adds its seconds to the stage's `busy` (thread-seconds). When the block ends
its wall W is split between its stages in proportion to their thread-seconds, wall_s = W·busy_s / Σ busy, so the
stages sum to W and nothing counts twice; their compile and trace seconds are thread-seconds, which the per-stage
account (flatness_jax.analysis.stage_account) scales by wall/busy.
"""
import contextlib
import copy
import threading
import time

from jax import monitoring

from flatness_jax.rundir import jsonio

_TRACE = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration")
_COMPILE = "/jax/core/compile/backend_compile_duration"
_HIT = "/jax/compilation_cache/cache_hits"


class StageTimes:
  """Per-stage wall, trace+lowering and compile seconds, and persistent-cache hits."""

  def __init__(self, path=None):
    self.stages = {}
    self.path = path
    self._current = None
    self._written = {}
    self._parts = None  # {stage: entry} of the `overlapped` block running, else None
    self._thread = threading.local()  # .part: the entry the calling thread's `part` attributes to
    self._lock = threading.Lock()
    monitoring.register_event_duration_secs_listener(self._on_duration)
    monitoring.register_event_listener(self._on_event)

  def _entry(self):
    """The entry the calling thread's events go to: its `part`, else the current stage's; None outside both."""
    part = getattr(self._thread, "part", None)
    if part is not None:
      return part
    if self._current is None:
      return None
    return self.stages.setdefault(self._current, {"wall": 0.0, "trace": 0.0, "compile": 0.0, "cache_hits": 0})

  def _on_duration(self, name, seconds, **_):
    field = "compile" if name == _COMPILE else "trace" if name in _TRACE else None
    with self._lock:
      entry = self._entry() if field else None
      if entry is not None:
        entry[field] += seconds

  def _on_event(self, name, **_):
    with self._lock:
      entry = self._entry() if name == _HIT else None
      if entry is not None:
        entry["cache_hits"] += 1

  @contextlib.contextmanager
  def overlapped(self):
    """A block whose threads run stages at once (`part`); at its end each stage gets its share of the block's wall
    in proportion to its thread-seconds (module docstring), and is written like any stage."""
    if self._parts is not None:
      raise RuntimeError("StageTimes.overlapped blocks do not nest")
    parts = self._parts = {}
    t0 = time.time()
    try:
      yield
    finally:
      wall = time.time() - t0
      self._parts = None
      busy = sum(p["busy"] for p in parts.values())
      for name, p in parts.items():
        entry = self.stages.setdefault(name, {"wall": 0.0, "trace": 0.0, "compile": 0.0, "cache_hits": 0})
        entry["wall"] += wall * p["busy"] / busy if busy > 0 else wall / len(parts)
        for field in ("busy", "trace", "compile", "cache_hits"):
          entry[field] = entry.get(field, 0) + p[field]
      if self.path and self._current is None:
        write(self.path, self)

  @contextlib.contextmanager
  def part(self, name: str):
    """On a thread inside `overlapped`: what runs in the block is stage `name`'s (its seconds, tracing and
    compilation)."""
    if self._parts is None:
      raise RuntimeError("StageTimes.part runs inside an overlapped block")
    with self._lock:
      entry = self._parts.setdefault(name, {"busy": 0.0, "trace": 0.0, "compile": 0.0, "cache_hits": 0})
    previous, self._thread.part = getattr(self._thread, "part", None), entry
    t0 = time.time()
    try:
      yield
    finally:
      with self._lock:
        entry["busy"] += time.time() - t0
      self._thread.part = previous

  @contextlib.contextmanager
  def stage(self, name: str):
    previous, self._current = self._current, name
    self._entry()
    t0 = time.time()
    try:
      yield
    finally:
      self.stages[name]["wall"] += time.time() - t0
      self._current = previous
      if self.path and previous is None:
        write(self.path, self)

  def pending(self) -> dict:
    """What `write` has not yet added anywhere: each stage's fields less what earlier writes took."""
    return {name: {k: v - self._written.get(name, {}).get(k, 0) for k, v in entry.items()}
            for name, entry in self.stages.items()}

  def mark_written(self) -> None:
    self._written = copy.deepcopy(self.stages)

  def close(self) -> None:
    monitoring.unregister_event_duration_listener(self._on_duration)
    monitoring.unregister_event_listener(self._on_event)

  def as_dict(self) -> dict:
    return {k: dict(v) for k, v in self.stages.items()}

  def table(self) -> str:
    lines = ["| stage | wall s | XLA compile s | trace + lower s | cache hits |", "|---|---|---|---|---|"]
    for name, e in self.stages.items():
      lines.append(f"| {name} | {e['wall']:.1f} | {e['compile']:.1f} | {e['trace']:.1f} | {e['cache_hits']} |")
    total = {k: sum(e[k] for e in self.stages.values()) for k in ("wall", "compile", "trace", "cache_hits")}
    lines.append(f"| total | {total['wall']:.1f} | {total['compile']:.1f} | {total['trace']:.1f} | "
                 f"{total['cache_hits']} |")
    if any("busy" in e for e in self.stages.values()):
      lines.append("Stages of runs at once overlap: each one's wall is its share of their common wall, in proportion "
                   "to its thread-seconds; compile and trace seconds are thread-seconds.")
    return "\n".join(lines)


def accumulate(old: dict, new: dict) -> dict:
  """{stage: fields} with every field of a stage in both summed (wall, trace, compile seconds, cache hits); stages in
  one only are kept as they are, earlier stages first."""
  out = {k: dict(v) for k, v in old.items()}
  for name, entry in new.items():
    have = out.setdefault(name, {})
    for field, value in entry.items():
      have[field] = have.get(field, 0) + value
  return out


def write(path: str, times: StageTimes) -> None:
  """Adds this call's stage times not yet written to the timings.json at `path` (atomically; created if absent): a
  stage written as it ended is not added twice."""
  jsonio.write_json_atomic(path, accumulate(jsonio.read_json(path, {}), times.pending()))
  times.mark_written()
