"""Several runs on one language: model sizes (Liu et al. 2023, §3: larger models at the same pre-training loss) or
named variants (training algorithms, batch sizes), each an *arm*, each arm trained `seeds` times.

The pre-training run is the unit of replication: seed k of an arm uses `config.seed + k` for its initialisation,
data stream and masks (all keyed from it), and the same held-out pairs, probe sets and curvature pairs as every
other run, so runs differ only in what training did. Run directories: `workdir/<arm>` with seeds = 1 (seed k = 0
is that run), `workdir/<arm>/seed_<k>` with seeds > 1. Each run's config.json records `arm` and `replicate` (k).
"""
import ast
import os

from flatness_jax import models as models_lib
from flatness_jax.rundir import fields
from flatness_jax.train import config_checks


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
    for key in ("sizes", "size_overrides", "variants", "seeds"):
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
  """The single-run config of one size: `config` with model.preset = size, then that size's entry of
  `config.size_overrides` (the variants syntax, e.g. 'cpu_xs:train.num_steps=5200'; sizes it does not name are
  unchanged), and job 'train'."""
  extra = parse_variants(config.get("size_overrides", "") or "")
  return variant_config(config, size, {"model.preset": size, **extra.get(size, {})})


def num_seeds(config) -> int:
  """Pre-training seeds per arm (`config.seeds`, default 1)."""
  seeds = config.get("seeds", 1)
  if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
    raise ValueError(f"seeds={seeds!r} must be a positive integer (pre-training runs per arm)")
  return seeds


def replicate_config(sub, arm: str, k: int):
  """Seed k of an arm: seed + k (initialisation, data stream, masks), with the arm and k recorded."""
  rep = sub.copy_and_resolve_references()
  with rep.unlocked():
    rep.seed = int(sub.seed) + k
    rep.arm, rep.replicate = arm, k
    if "seeds" in rep:
      del rep["seeds"]
  return rep


def run_configs(config) -> dict:
  """{run name: config} for every seed of every arm: `config.sizes` (model presets) or `config.variants`."""
  if config.get("variants"):
    arms = {n: variant_config(config, n, o) for n, o in parse_variants(config.variants).items()}
  else:
    unknown = sorted(set(parse_variants(config.get("size_overrides", "") or "")) - set(models_lib.PRESETS))
    if unknown:
      raise ValueError(f"size_overrides names {unknown}, not model presets (known: {sorted(models_lib.PRESETS)})")
    arms = {s: size_config(config, s) for s in fields.split_list(config.sizes)}
  if not arms:
    raise ValueError("nothing to train: set sizes (e.g. cpu_s,cpu_m) or variants")
  seeds = num_seeds(config)
  subs = {}
  for arm, sub in arms.items():
    for k in range(seeds):
      subs[arm if seeds == 1 else f"{arm}/seed_{k}"] = replicate_config(sub, arm, k)
  for sub in subs.values():  # validate every run before training any
    config_checks.validate_train_config(sub)
  return subs


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
