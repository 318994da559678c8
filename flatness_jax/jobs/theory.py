"""The 'theory_drift' job (configs/theory_drift.py): the Theorem 4.3 sweep (flatness_jax.theory) into a directory.

Writes, under the workdir's writer lock (flatness_jax.rundir.lock) and atomically (rundir.jsonio):
  config.json           the resolved config;
  theory_drift.json     every cell's per-seed Tr∇²L, ratios with intervals, distances, the flow, the start's facts;
  trace_vs_t.png        Tr∇²L against t (SGD seeds with bands, the flow as a line);
  report.md             the η × B ratio tables, the η → 0 extrapolation and the distance to Γ against √η.
A progress bar (jobs.progress) counts the (η, B) cells.
"""
import os
import time

from flatness_jax.jobs import progress
from flatness_jax.rundir import fields, jsonio, layout, lock
from flatness_jax.theory import drift_markdown, figure, sweep

RESULT, FIGURE, REPORT = "theory_drift.json", "trace_vs_t.png", "report.md"
_INTS = ("seed", "num_classes", "dim", "rank", "num_seeds", "num_records", "sgd_seed")
_FLOATS = ("teacher_scale", "imbalance", "horizon", "flow_step")


def _number_list(cfg, field: str, kind):
  try:
    return tuple(kind(v) for v in fields.split_list(cfg[field]))
  except (TypeError, ValueError):
    raise ValueError(f"theory.{field}={cfg[field]!r}: expected comma-separated {kind.__name__}s") from None


def settings_from_config(cfg) -> sweep.Settings:
  """sweep.Settings from config.theory (ValueError naming the field for a malformed or out-of-range value)."""
  values = {}
  for name in _INTS + _FLOATS:
    raw = cfg.get(name, getattr(sweep.Settings, name))
    kind = int if name in _INTS else float
    try:
      values[name] = kind(raw)
    except (TypeError, ValueError):
      raise ValueError(f"theory.{name}={raw!r}: expected a number") from None
    if kind is int and values[name] != raw:
      raise ValueError(f"theory.{name}={raw!r}: expected an integer")
  values["learning_rates"] = _number_list(cfg, "learning_rates", float)
  values["batch_sizes"] = _number_list(cfg, "batch_sizes", int)
  s = sweep.Settings(**values)
  sweep.check(s)
  return s


def run_theory_drift(config, workdir: str) -> dict:
  """Runs the sweep of config.theory and writes the run directory (module docstring); returns the result."""
  s = settings_from_config(config.theory)
  with lock.writer_lock(workdir):
    t0 = time.time()
    bar = progress.ProgressBar(len(s.learning_rates) * len(s.batch_sizes), label="theory drift", unit="cells")

    def on_cell(done, _, cell):
      bar.update(done, force=True, eta=cell["learning_rate"], B=cell["batch_size"],
                 ratio=cell["ratio_on_gamma"]["ratio"])
    result = sweep.run_sweep(s, on_cell=on_cell)
    bar.close()
    runtime = time.time() - t0
    result["runtime_s"] = runtime
    text = drift_markdown.render(result, FIGURE, runtime)
    if jsonio.is_writer():
      jsonio.write_json_atomic(os.path.join(workdir, layout.CONFIG), config.to_dict())
      jsonio.write_json_atomic(os.path.join(workdir, RESULT), result)
      jsonio.save_figure(figure.trace_vs_t(result), os.path.join(workdir, FIGURE))
      jsonio.write_text_atomic(os.path.join(workdir, REPORT), text)
      print(text)
      print(f"wrote {os.path.join(workdir, REPORT)}")
  return result
