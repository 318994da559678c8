"""What every config shares (not a config to run by itself): its argument parser and its tiny version.

`parse_arg` turns the text after the colon of `--config=configs/NAME.py:ARG` into typed fields once, in the manner
of big_vision's configs/common.parse_arg: ARG is comma-separated words, each `name=value` or a bare word. A bare
word is the name of a bool field (`adversarial` means adversarial=True) or one of the options of a `Choice` field
(`hmm` means lang='hmm'). Unknown words, malformed values and two options of one choice are a ValueError naming
the config, the word and what it accepts. Every training config accepts `tiny` (the `tiny` function below).

`tiny(c)` is the one way to make a run seconds long (tests, debugging): it shrinks steps, evaluations,
checkpoints, the data card, curvature, probe and adversary budgets (TINY) and every arm's own step counts
(ARM_STEPS), on the same language and arms. A field TINY names must exist in the config (a missing one is an
error), except for the sections of the pipeline stages (PIPELINE_SECTIONS), which single-run configs lack.
"""
import os
from typing import NamedTuple

import ml_collections


class Choice(NamedTuple):
  """A parse_arg field whose value is one of `options`; the bare word of an option selects it."""
  default: str
  options: tuple


def _convert(config: str, key: str, value: str, default):
  """`value` (text) as the type of `default`; ValueError naming the config and the word otherwise."""
  if isinstance(default, Choice):
    if value in default.options:
      return value
    raise ValueError(f"{config}: {key}={value!r} is not one of {list(default.options)}")
  if isinstance(default, bool):
    if value.lower() in ("true", "false"):
      return value.lower() == "true"
    raise ValueError(f"{config}: {key}={value!r} is not a bool (true or false)")
  try:
    return type(default)(value)
  except ValueError:
    raise ValueError(f"{config}: {key}={value!r} is not {type(default).__name__}") from None


def _accepted(spec: dict) -> str:
  words = []
  for name, default in spec.items():
    if isinstance(default, Choice):
      words.append(" | ".join(default.options) + f" ({name})")
    elif isinstance(default, bool):
      words.append(name)
    else:
      words.append(f"{name}={type(default).__name__.upper()}")
  return ", ".join(words) or "no argument"


def parse_arg(arg, config_file: str, **spec) -> ml_collections.ConfigDict:
  """The fields of a config argument, e.g. parse_arg('hmm,seeds=5', __file__, lang=Choice('pcfg', LANGS),
  adversarial=False, seeds=3) -> {lang: 'hmm', adversarial: False, seeds: 5}.

  spec: field name -> default: a bool, int, float or str (the type converts `name=value`; a bool may be given as
  its bare name), or a Choice (its value given as the bare word of an option, or `name=option`).
  """
  config = f"configs/{os.path.basename(config_file)}:{arg or ''}"
  out = ml_collections.ConfigDict({k: v.default if isinstance(v, Choice) else v for k, v in spec.items()})
  given = {}
  for word in [w.strip() for w in (arg or "").split(",") if w.strip()]:
    key, eq, value = word.partition("=")
    key = key.strip()
    if not eq:
      chosen = [k for k, v in spec.items() if isinstance(v, Choice) and word in v.options]
      if chosen:
        key, value = chosen[0], word
      elif isinstance(spec.get(word), bool):
        value = "true"
      else:
        raise ValueError(f"{config}: unknown word {word!r}; accepted: {_accepted(spec)}")
    elif key not in spec:
      raise ValueError(f"{config}: unknown word {word!r}; accepted: {_accepted(spec)}")
    if key in given:
      raise ValueError(f"{config}: {given[key]!r} and {word!r} both set {key}; give one")
    given[key] = word
    out[key] = _convert(config, key, value.strip(), spec[key])
  return out


def check_least(a, arg, config_file: str, word: str, minimum: int, rule: str) -> None:
  """The int word `word` of a parsed argument `a` (0: not given) against its least value: ValueError naming the
  argument when N < minimum (`rule` says why, after the value)."""
  if a[word] and a[word] < minimum:
    raise ValueError(f"configs/{os.path.basename(config_file)}:{arg}: {word}={a[word]} {rule}")


def check_steps(a, arg, config_file: str, minimum: int, rule: str) -> None:
  """The `steps=N` word of a parsed argument `a` (0: not given) against its `long` word and its least value:
  ValueError naming the argument when both set the steps or N < minimum (`rule` says why, after the value)."""
  if a.steps and a.long:
    raise ValueError(f"configs/{os.path.basename(config_file)}:{arg}: steps={a.steps} and long both set the steps; "
                     "give one")
  check_least(a, arg, config_file, "steps", minimum, rule)


# Seconds-long budgets (40 steps of batch 32; checkpoints 20 and 40 measured by curvature and probes).
TINY = {
    "train.num_steps": 40, "train.batch_size": 32, "train.steps_per_call": 10,
    "optimizer.warmup_steps": 5,
    "eval.every": 20, "eval.num_pairs": 256, "eval.batch_size": 128,
    "checkpoint.every": 20, "checkpoint.keep_period": 20,
    "adversarial.refit_every": 20, "adversarial.head_examples": 128, "adversarial.batch_size": 16,
    "adversarial.head_steps": 20,
    "card.num_sentences": 500,
    "curvature.steps": "last:2", "curvature.methods": "hutchinson", "curvature.num_matvecs": 12,
    "curvature.rtol": 0.0, "curvature.lanczos_iters": 6, "curvature.num_pairs": 128, "curvature.batch_size": 64,
    "curvature.fisher_examples": 128, "curvature.downstream_examples": 128, "curvature.head_epochs": 5,
    "probes.steps": "last:2", "probes.num_examples": 400, "probes.seeds": 2, "probes.epochs": 10,
}
PIPELINE_SECTIONS = ("card", "curvature", "probes")  # Sections only pipeline (several-stage) configs have.
# Step counts an arm may set for itself (cpu_xs's longer run, model_size's ',long'): shrunk to TINY's in every arm.
ARM_STEPS = ("train.num_steps", "optimizer.warmup_steps", "eval.every", "checkpoint.every", "checkpoint.keep_period",
             "adversarial.refit_every", "adversarial.head_steps")
TINY_START_STEP = 10  # adversarial.start_step is lowered to this (40 steps: the adversary still switches on).


def tiny(c):
  """Shrinks config `c` in place to a seconds-long run on the same language and arms (see the module docstring);
  returns it."""
  for dotted, value in TINY.items():
    section, field = dotted.split(".")
    if section not in c and section in PIPELINE_SECTIONS:
      continue
    if section not in c or field not in c[section]:
      raise ValueError(f"tiny: the config has no field {dotted!r}")
    c[section][field] = value
  arms = list(c.arms.values()) if "arms" in c else []
  for arm in arms:
    for dotted in ARM_STEPS:
      section, field = dotted.split(".")
      if field in arm.get(section, {}):
        arm[section][field] = TINY[dotted]
  for target in [c] + arms:
    if "start_step" in target.get("adversarial", {}):
      target.adversarial.start_step = min(target.adversarial.start_step, TINY_START_STEP)
  return c
