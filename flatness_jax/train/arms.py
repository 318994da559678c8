"""Several runs on one language: the *arms* of an experiment (model sizes, training algorithms, batch sizes; Liu et
al. 2023 compare sizes at equal pre-training loss and algorithms at fixed size), each trained `seeds` times.

`config.arms` is a ConfigDict of named partial configs, in the order they train (`make_arms` builds one):

    c.arms = arms.make_arms(adamw={"train.algorithm": "standard"},
                            sgd={"optimizer.name": "sgd", "optimizer.learning_rate": 0.1})

An arm's fields replace the base config's (the rest of `config`); dotted flags reach both
(`--config.arms.sgd.optimizer.learning_rate=0.05`; a flag on the base, `--config.optimizer.learning_rate=...`, does
not change an arm that sets the field itself). An arm naming a field the base config lacks is an error naming the
arm and the field. Order matters: an arm whose `adversarial.match_gap_of` names another arm trains after it.
`config.run_arms` ('' = every arm) picks the arms to train, in its order; a name there that is not an arm but a
model preset (flatness_jax.models.PRESETS) trains that preset as an arm of its own (`--config.run_arms=cpu_s,cpu_m`).
An arm may set `seeds` too (its own number of pre-training runs).

The pre-training run is the unit of replication, and runs are independent replicates (the seed design the report
assumes, flatness_jax.analysis.replicates): seed k of an arm draws every random stream of its own from the
experiment's base seeds, `stream_seed(base, arm, k, stream)`: its initialisation, data stream and masks
(`seed`, from `config.seed`), the adversary's head split and labelled stream (`adversarial.seed`) and the probes'
labelled sentences and split (`probes.seed`, derived by flatness_jax.eval.probing from the run's recorded arm and
replicate). So no two runs, of one arm or of two, share a stream, and arms compare as independent samples. What
every run shares are the measuring instruments: the held-out pairs with their exact optimal losses (`eval.seed`,
so gaps pair over the same pairs) and the curvature pairs and probes (`curvature.seed`). Run directories:
`workdir/<arm>` with seeds = 1 (seed k = 0 is that run), `workdir/<arm>/seed_<k>` with seeds > 1. Each run's
config.json records `arm`, `replicate` (k) and the seeds it drew.

Every run config is resolved (`resolve_run_config`): references copied to values and the model preset expanded, so
config.json records what was trained.
"""
import copy
import zlib

import ml_collections
import numpy as np

from flatness_jax import models as models_lib
from flatness_jax.rundir import fields
from flatness_jax.train import config_checks

ARM_FIELDS = ("arms", "run_arms", "seeds")  # Fields of an experiment config that a single run does not have.


def put(partial, dotted: str, value) -> None:
  """Sets `partial[a][b]... = value` for dotted 'a.b...', creating the sections a partial config lacks."""
  *sections, last = dotted.split(".")
  for name in sections:
    if name not in partial:
      partial[name] = ml_collections.ConfigDict()
    partial = partial[name]
  partial[last] = value


def partial_config(overrides: dict) -> ml_collections.ConfigDict:
  """A partial config from {'section.field': value} (dotted keys)."""
  out = ml_collections.ConfigDict()
  for dotted, value in overrides.items():
    put(out, dotted, value)
  return out


def make_arms(**arms) -> ml_collections.ConfigDict:
  """A `config.arms` section, in argument order: each arm from {'section.field': value} (dotted keys)."""
  out = ml_collections.ConfigDict(sort_keys=False)  # insertion order = training order
  for name, overrides in arms.items():
    out[name] = partial_config(overrides)
  return out


def apply_overrides(target, partial, label: str, prefix: str = "") -> None:
  """Assigns every leaf of the partial config `partial` to the same field of `target` (in place); a field
  `target` lacks, or a value of the wrong type, raises ValueError naming `label` (e.g. "arm 'sgd'") and the field."""
  for key in partial.keys():
    value, path = partial[key], prefix + key
    if key not in target:
      raise ValueError(f"{label}: {path!r} is not a field of the config")
    if isinstance(value, ml_collections.ConfigDict):
      if not isinstance(target[key], ml_collections.ConfigDict):
        raise ValueError(f"{label}: {path!r} is a value, not a section, in the config")
      apply_overrides(target[key], value, label, path + ".")
      continue
    if isinstance(target[key], ml_collections.ConfigDict):
      raise ValueError(f"{label}: {path!r} is a section of the config; set its fields ({path}.FIELD)")
    try:
      target[key] = value
    except TypeError as e:
      raise ValueError(f"{label}: {path}={value!r}: {e}") from None


def resolve_run_config(config) -> ml_collections.ConfigDict:
  """The fully resolved copy of a single-run config: references copied to values, the model preset expanded into
  explicit fields (models.resolve_model_config: explicit values win, unset fields take the preset's, then the
  defaults; `model.preset` kept as the record of the name). Resolving a resolved config gives an equal one.
  For one run only: resolving an experiment config before `run_configs` would make its base sizes explicit, and
  explicit base sizes win over every arm's preset."""
  out = config.copy_and_resolve_references()
  with out.unlocked():
    out.model = models_lib.resolve_model_config(out.model)
  return out


def selected_arms(config) -> dict:
  """{arm name: partial config} of the arms to train, in order (`config.run_arms`, or every arm of `config.arms`)."""
  declared = config.get("arms") or ml_collections.ConfigDict()
  names = fields.split_list(config.get("run_arms", "")) or list(declared.keys())
  if not names:
    raise ValueError("nothing to train: config.arms is empty (add arms, or set run_arms to model presets, e.g. "
                     "--config.run_arms=cpu_s,cpu_m)")
  repeated = sorted({n for n in names if names.count(n) > 1})
  if repeated:
    raise ValueError(f"run_arms names {repeated} more than once")
  out = {}
  for name in names:
    if name in declared:
      out[name] = declared[name]
    elif name in models_lib.PRESETS:
      out[name] = partial_config({"model.preset": name})
    else:
      raise ValueError(f"run_arms: {name!r} is neither an arm of this config ({list(declared.keys())}) nor a model "
                       f"preset ({sorted(models_lib.PRESETS)})")
  return out


def arm_config(config, name: str, partial) -> ml_collections.ConfigDict:
  """The single-run config of one arm: the base config with the arm's fields, job 'train', name = the arm
  (unresolved: `seeds` is still there, for `run_configs`)."""
  sub = copy.deepcopy(config)  # keeps the typed placeholders, so an arm's value is type-checked against them
  with sub.unlocked():
    for key in ("arms", "run_arms"):
      if key in sub:
        del sub[key]
    apply_overrides(sub, partial, f"arm {name!r}")
    sub.job, sub.name = "train", name
  return sub


def num_seeds(config) -> int:
  """Pre-training seeds per arm (`config.seeds`, default 1)."""
  seeds = config.get("seeds", 1)
  if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
    raise ValueError(f"seeds={seeds!r} must be a positive integer (pre-training runs per arm)")
  return seeds


def stream_seed(base: int, arm: str, k: int, stream: str) -> int:
  """The seed of `stream` ('pretraining', 'adversary', 'probes') for seed k of `arm`, from the experiment's `base`
  seed: a 31-bit word of numpy's SeedSequence over (base, crc32(arm), k, crc32(stream)), so different arms,
  replicates and streams get unrelated seeds, the same on every machine and whatever other arms train."""
  entropy = [int(base) & 0xFFFFFFFF, zlib.crc32(arm.encode()), int(k), zlib.crc32(stream.encode())]
  return int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)


def replicate_config(sub, arm: str, k: int):
  """Seed k of an arm, resolved: its own pre-training and adversary seeds (`stream_seed` of the base ones), with
  the arm and k recorded."""
  rep = resolve_run_config(sub)
  with rep.unlocked():
    rep.seed = stream_seed(sub.seed, arm, k, "pretraining")
    if "adversarial" in rep:
      rep.adversarial.seed = stream_seed(sub.adversarial.seed, arm, k, "adversary")
    rep.arm, rep.replicate = arm, k
    if "seeds" in rep:
      del rep["seeds"]
  return rep


def _check_references(arms: dict) -> None:
  """An arm tracking another's gap (adversarial.match_gap_of) must train after it when both train here."""
  order = list(arms)
  for i, (name, sub) in enumerate(arms.items()):
    ref = sub.get("adversarial", {}).get("match_gap_of", "")
    if ref and ref in order[i:]:
      raise ValueError(f"arm {name!r}: adversarial.match_gap_of={ref!r} must train before it; order: {order}")


def run_configs(config) -> dict:
  """{run name: resolved single-run config} for every seed of every selected arm; every run is checked
  (config_checks.validate_train_config, the model preset while resolving) before any trains."""
  arms = {name: arm_config(config, name, partial) for name, partial in selected_arms(config).items()}
  _check_references(arms)
  subs = {}
  for arm, sub in arms.items():
    seeds = num_seeds(sub)
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
