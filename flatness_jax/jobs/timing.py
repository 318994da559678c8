"""Where a job's time goes: wall seconds per stage, and how much of it was JAX tracing and XLA compilation.

`StageTimes` listens to JAX's monitoring events (jax.monitoring): the durations of tracing
('/jax/core/compile/jaxpr_trace_duration'), lowering to StableHLO ('.../jaxpr_to_mlir_module_duration') and XLA
compilation ('.../backend_compile_duration'), and the persistent cache's hits ('/jax/compilation_cache/cache_hits').
`with times.stage("train"):` attributes what happens inside to that stage; `table()` prints them and `write()` adds
them to a workdir's timings.json: each stage's seconds summed over every call that ran it (a killed and resumed
training counts both parts, a report-only rerun adds its report time), so timings.json is what the workdir cost.
`StageTimes(path)` adds each stage to `path` as the stage ends (raising or not), so a process killed later (the
machine gone, SIGKILL) keeps the time of every stage it finished; only the stage it was in is lost.
"""
import contextlib
import copy
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
    monitoring.register_event_duration_secs_listener(self._on_duration)
    monitoring.register_event_listener(self._on_event)

  def _entry(self):
    return self.stages.setdefault(self._current, {"wall": 0.0, "trace": 0.0, "compile": 0.0, "cache_hits": 0})

  def _on_duration(self, name, seconds, **_):
    if self._current is None:
      return
    if name == _COMPILE:
      self._entry()["compile"] += seconds
    elif name in _TRACE:
      self._entry()["trace"] += seconds

  def _on_event(self, name, **_):
    if self._current is not None and name == _HIT:
      self._entry()["cache_hits"] += 1

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
