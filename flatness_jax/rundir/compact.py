"""The compact record of a run: what a report reads from its run directory, in one small JSON file (results/).

`compact(run)` keeps of a reader.RunRecord everything flatness_jax.analysis.report_markdown.build reads (config,
summary, every held-out evaluation, curvature and probes of every measured checkpoint, and the per-pair held-out
losses at the measured steps that iso-loss matching and paired gap differences need) and nothing a report does not
(checkpoints, the per-pair losses of unmeasured steps, the run's absolute path). `write(run, path)` stores it and
`read(path)` gives back a RunRecord that builds the same report as the run directory itself.

The encoding is generic, so fields added to the records travel without a change here: a dataclass of
flatness_jax.rundir.records (or RunRecord, PairLosses) is an object tagged {"@": class name} with its fields that
differ from their defaults; a tuple is {"@tuple": [...]}; a dict with non-string keys (steps) is
{"@items": [[key, value], ...]}; a numpy array is {"@array": dtype, "shape", "base64"} of its bytes (exact, and
smaller than decimal text); a non-finite float is {"@float": "nan" | "inf" | "-inf"}. The file is standard JSON,
keys sorted, so equal records are equal bytes.
"""
import base64
import dataclasses
import json
import math
import os

import numpy as np

from flatness_jax.rundir import integrity, jsonio, pair_losses, reader, records

FORMAT = "flatness_jax.compact_run/1"
SUFFIX = ".json"


def _classes() -> dict:
  found = {c.__name__: c for c in vars(records).values() if isinstance(c, type) and dataclasses.is_dataclass(c)}
  found.update({c.__name__: c for c in (reader.RunRecord, pair_losses.PairLosses)})
  return found


_CLASSES = _classes()


def _same(a, b) -> bool:
  """Whether a field's value equals its default (nan equals nan)."""
  if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
    return True
  if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
    return False
  try:
    return type(a) is type(b) and bool(a == b)
  except (TypeError, ValueError):
    return False


def _default(field):
  if field.default is not dataclasses.MISSING:
    return field.default
  if field.default_factory is not dataclasses.MISSING:
    return field.default_factory()
  return dataclasses.MISSING


def encode(x):
  """`x` (records, containers, numbers, arrays) as standard-JSON values with type tags (the module docstring)."""
  if dataclasses.is_dataclass(x) and not isinstance(x, type):
    name = type(x).__name__
    if _CLASSES.get(name) is not type(x):
      raise TypeError(f"compact records cannot hold a {name}")
    out = {"@": name}
    for f in dataclasses.fields(x):
      value = getattr(x, f.name)
      if not _same(value, _default(f)):
        out[f.name] = encode(value)
    return out
  if isinstance(x, np.ndarray):
    a = np.ascontiguousarray(x)
    if a.dtype.kind in "US":
      return {"@array": a.dtype.str, "shape": list(a.shape), "items": a.tolist()}
    return {"@array": a.dtype.str, "shape": list(a.shape), "base64": base64.b64encode(a.tobytes()).decode()}
  if isinstance(x, np.generic):
    return encode(x.item())
  if isinstance(x, float) and not math.isfinite(x):
    return {"@float": str(x)}
  if isinstance(x, tuple):
    return {"@tuple": [encode(v) for v in x]}
  if isinstance(x, list):
    return [encode(v) for v in x]
  if isinstance(x, dict):
    if all(isinstance(k, str) and not k.startswith("@") for k in x):
      return {k: encode(v) for k, v in x.items()}
    return {"@items": [[encode(k), encode(v)] for k, v in x.items()]}
  if x is None or isinstance(x, (bool, int, float, str)):
    return x
  raise TypeError(f"compact records cannot hold a {type(x).__name__}")


def decode(x):
  """The inverse of `encode`."""
  if isinstance(x, list):
    return [decode(v) for v in x]
  if not isinstance(x, dict):
    return x
  if "@" in x:
    cls = _CLASSES.get(x["@"])
    if cls is None:
      raise ValueError(f"unknown record type {x['@']!r}")
    return cls(**{k: decode(v) for k, v in x.items() if k != "@"})
  if "@array" in x:
    if "items" in x:
      return np.asarray(x["items"], dtype=x["@array"]).reshape(x["shape"])
    return np.frombuffer(base64.b64decode(x["base64"]), dtype=x["@array"]).reshape(x["shape"]).copy()
  if "@float" in x:
    return float(x["@float"])
  if "@tuple" in x:
    return tuple(decode(v) for v in x["@tuple"])
  if "@items" in x:
    return {decode(k): decode(v) for k, v in x["@items"]}
  return {k: decode(v) for k, v in x.items()}


def compact(run: reader.RunRecord) -> reader.RunRecord:
  """The run's record as results/ keeps it: per-pair losses at the measured steps only, the workdir replaced by the
  run's name (in `problems` too), no writer."""
  pairs = run.pairs
  if pairs is not None:
    keep = np.isin(pairs.steps, run.measured_steps())
    pairs = dataclasses.replace(pairs, steps=pairs.steps[keep], losses=pairs.losses[keep])
  problems = tuple(p.replace(run.workdir, run.name) for p in run.problems)
  return dataclasses.replace(run, workdir=run.name, pairs=pairs, problems=problems, writer="")


def dumps(run: reader.RunRecord) -> str:
  """The compact record's file text (sorted keys: equal records, equal text)."""
  return json.dumps({"format": FORMAT, "run": encode(compact(run))}, indent=1, sort_keys=True) + "\n"


def write(run: reader.RunRecord, path: str) -> str:
  """Writes the compact record of `run` to `path` atomically; returns the path."""
  text = dumps(run)
  integrity.write_atomic(path, lambda f: f.write(text), SUFFIX)
  return path


def read(path: str) -> reader.RunRecord:
  """The RunRecord of a compact record file (ValueError naming the file when it is not one)."""
  with open(path, encoding="utf-8") as f:
    try:
      doc = json.load(f)
    except ValueError as e:
      raise ValueError(f"{path} is not JSON: {e}") from None
  if not isinstance(doc, dict) or doc.get("format") != FORMAT:
    raise ValueError(f"{path} is not a compact run record ({FORMAT})")
  try:
    run = decode(doc["run"])
  except (KeyError, TypeError, ValueError) as e:
    raise ValueError(f"{path} is not a readable compact run record: {e}") from None
  if not isinstance(run, reader.RunRecord):
    raise ValueError(f"{path} holds no run record")
  return run


def write_json(path: str, doc) -> None:
  """Writes a results/ JSON document as the run directory's records are written (jsonio.jsonable: non-finite
  floats as strings; keys sorted), without a checksum manifest: results/ is generated."""
  text = json.dumps(jsonio.jsonable(doc), indent=2, sort_keys=True) + "\n"
  integrity.write_atomic(path, lambda f: f.write(text), SUFFIX)


def read_json(path: str):
  """A document `write_json` wrote (ValueError naming the file when it is not JSON)."""
  with open(path, encoding="utf-8") as f:
    try:
      return json.load(f)
    except ValueError as e:
      raise ValueError(f"{path} is not JSON: {e}") from None


def write_text(path: str, text: str) -> None:
  """Writes a results/ text file (report.md, README.md) atomically."""
  integrity.write_atomic(path, lambda f: f.write(text), os.path.splitext(path)[1] or ".txt")


def save_figure(fig, path: str, dpi: int) -> None:
  """Saves a Figure as PNG at `path` with no metadata (no software version or time: the same figure, the same
  bytes) and closes it (flatness_jax.rundir.jsonio.save_figure)."""
  jsonio.save_figure(fig, path, dpi, metadata={"Software": None})


def file_name(run_name: str) -> str:
  """'adamw/seed_1' -> 'adamw__seed_1.json' (one flat directory of records per experiment and language)."""
  return run_name.replace(os.sep, "__") + SUFFIX


def read_dir(directory: str) -> list:
  """Every compact record in `directory`, sorted by file name."""
  names = sorted(n for n in os.listdir(directory) if n.endswith(SUFFIX))
  return [read(os.path.join(directory, n)) for n in names]
