"""Several runs on one language: model sizes (Liu et al. 2023, §3: larger models at the same pre-training loss) or
named variants (training algorithms, batch sizes). Each run is an ordinary run directory `workdir/<name>`."""
import ast
import os

from flatness_jax.rundir import fields
from flatness_jax.train import config_checks, loop


def parse_variants(text: str) -> dict:
  """'name:a.b=1,c=x;name2:...' -> {name: {'a.b': 1, 'c': 'x'}} (values parsed as Python literals when possible)."""
  out = {}
  for part in [p.strip() for p in text.split(";") if p.strip()]:
    name, _, body = part.partition(":")
    overrides = {}
    for item in [i.strip() for i in body.split(",") if i.strip()]:
      key, eq, value = item.partition("=")
      if not eq:
        raise ValueError(f"variants: {item!r} in variant {name!r} is not key=value")
      try:
        overrides[key.strip()] = ast.literal_eval(value.strip())
      except (ValueError, SyntaxError):
        overrides[key.strip()] = value.strip()
    out[name.strip()] = overrides
  return out


def variant_config(config, name: str, overrides: dict):
  """The single-run config of one variant: `config` with dotted `overrides` applied and job 'train'."""
  sub = config.copy_and_resolve_references()
  with sub.unlocked():
    sub.job, sub.name = "train", name
    for key in ("sizes", "variants"):
      if key in sub:
        del sub[key]
    for key, value in overrides.items():
      node, *path = key.split(".")
      target = sub
      for part in [node] + path[:-1]:
        if part not in target:
          raise ValueError(f"variant {name!r}: unknown config field {key!r}")
        target = target[part]
      last = path[-1] if path else node
      if last not in target:
        raise ValueError(f"variant {name!r}: unknown config field {key!r}")
      target[last] = value
  return sub


def size_config(config, size: str):
  """The single-run config of one size: `config` with model.preset = size and job 'train'."""
  return variant_config(config, size, {"model.preset": size})


def run_configs(config) -> dict:
  """{run name: config} for `config.sizes` (model presets) or `config.variants` (named overrides)."""
  if config.get("variants"):
    subs = {n: variant_config(config, n, o) for n, o in parse_variants(config.variants).items()}
  else:
    subs = {s: size_config(config, s) for s in fields.split_list(config.sizes)}
  if not subs:
    raise ValueError("nothing to train: set sizes (e.g. cpu_s,cpu_m) or variants")
  for sub in subs.values():  # validate every run before training any
    config_checks.validate_train_config(sub)
  return subs


def train_sizes(config, workdir: str) -> dict:
  """Trains every run of `run_configs(config)` in turn, each in workdir/<name>; returns {name: summary}."""
  return {n: loop.train_and_evaluate(sub, os.path.join(workdir, n)) for n, sub in run_configs(config).items()}


def format_table(summaries: dict) -> str:
  """A markdown table: size, parameters, steps, gap ± SE (nats and % of L*), accuracy, wall time."""
  lines = ["| run | params | steps | loss | optimal | gap (nats) ± SE | gap % of L* | masked-token acc "
           "(Bayes) | wall s |", "|---|---|---|---|---|---|---|---|---|"]
  for s, r in summaries.items():
    lines.append(f"| {s} | {r['num_params']:,} | {r['steps']} | {r['final_loss']:.4f} | {r['optimal_loss']:.4f} "
                 f"| {r['final_gap']:.4f} ± {r['final_gap_se']:.4f} | {100 * r['final_gap_relative']:.2f} ± "
                 f"{100 * r['final_gap_relative_se']:.2f} | {r['final_accuracy']:.3f} ({r['bayes_accuracy']:.3f})"
                 f" | {r['wall_seconds']:.0f} |")
  return "\n".join(lines)
