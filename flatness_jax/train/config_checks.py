"""Cheap checks of a training config, run before anything is compiled; errors name the offending field.

Every number of the config must be finite (a NaN or infinite value is refused wherever it sits), every count a
positive integer, and every optimizer and checkpoint field inside the range where it means something.
"""
import math

from flatness_jax import models as models_lib
from flatness_jax.parallel import mesh as mesh_lib
from flatness_jax.train import algorithms, objective, optim


def _integer(config, path: str, minimum: int = 1) -> None:
  value = config
  for part in path.split("."):
    value = value[part]
  if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
    raise ValueError(f"{path}={value!r} must be an integer >= {minimum}")


def _positive(config, path: str) -> None:
  _integer(config, path, 1)


def check_finite(config, prefix: str = "") -> None:
  """Raises ValueError naming the first field of `config` (nested dicts) that is a NaN or infinite number."""
  for key in config.keys():
    value, path = config[key], f"{prefix}{key}"
    if hasattr(value, "keys"):
      check_finite(value, path + ".")
    elif isinstance(value, float) and not math.isfinite(value):
      raise ValueError(f"{path}={value!r} must be a finite number")


def validate_train_config(config) -> None:
  """Checks fields that need neither the data nor the devices."""
  check_finite(config)
  for field in ("train.num_steps", "train.batch_size", "train.steps_per_call", "eval.every", "eval.num_pairs",
                "eval.batch_size", "checkpoint.every", "checkpoint.max_to_keep"):
    _positive(config, field)
  _integer(config, "checkpoint.keep_period", 0)
  if config.train.masking not in objective.MASKINGS:
    raise ValueError(f"train.masking={config.train.masking!r} is unknown; choose one of {objective.MASKINGS}")
  optim.validate_optimizer_config(config.optimizer, config.train.num_steps)
  vmap = config.train.get("vmap_seeds", False)
  if not isinstance(vmap, bool):
    raise ValueError(f"train.vmap_seeds={vmap!r} must be True or False (train an arm's seeds as one program)")
  runs = config.get("parallel", {}).get("concurrent_runs", 1)
  if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
    raise ValueError(f"parallel.concurrent_runs={runs!r} must be a positive integer (runs trained at once)")
  algo = config.train.get("algorithm", "standard")
  if algo not in algorithms.ALGORITHMS:
    raise ValueError(f"train.algorithm={algo!r} is unknown; choose one of {algorithms.ALGORITHMS}")
  checks = {"sam": ("train.sam_rho", config.train.get("sam_rho")),
            "trace_penalty": ("train.trace_penalty", config.train.get("trace_penalty")),
            "adversarial": ("train.adversarial_lambda", config.train.get("adversarial_lambda"))}
  if algo in checks and not (checks[algo][1] or 0) > 0:
    raise ValueError(f"{checks[algo][0]}={checks[algo][1]!r} must be > 0 with train.algorithm={algo!r}")
  if algo == "trace_penalty":
    _positive(config, "train.trace_probes")
  if algo == "adversarial":
    for field in ("adversarial.refit_every", "adversarial.head_examples", "adversarial.head_steps",
                  "adversarial.batch_size"):
      _positive(config, field)
    if config.train.masking != "one":
      raise ValueError("train.algorithm='adversarial' needs train.masking='one'")
    start = config.adversarial.get("start_step", 0)
    if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < config.train.num_steps:
      raise ValueError(f"adversarial.start_step={config.adversarial.start_step!r} must be an integer step in "
                       f"[0, train.num_steps={config.train.num_steps})")
    if config.adversarial.get("match_gap_of"):
      if not config.adversarial.gap_tolerance >= 0:
        raise ValueError(f"adversarial.gap_tolerance={config.adversarial.gap_tolerance!r} must be >= 0")
      if not config.adversarial.lambda_factor > 1:
        raise ValueError(f"adversarial.lambda_factor={config.adversarial.lambda_factor!r} must be > 1")
      if not config.adversarial.lambda_max >= config.train.adversarial_lambda:
        raise ValueError(f"adversarial.lambda_max={config.adversarial.lambda_max!r} must be >= "
                         f"train.adversarial_lambda={config.train.adversarial_lambda!r}")


def validate_against_data(config, language, mesh) -> None:
  """Checks the config against the language (vocabulary, length) and the mesh (divisibility)."""
  n_data = mesh.shape[mesh_lib.DATA_AXIS]
  fields = ["train.batch_size", "eval.batch_size"]
  if config.train.get("algorithm") == "adversarial":
    fields.append("adversarial.batch_size")
    if config.adversarial.task not in language.tasks:
      raise ValueError(f"adversarial.task={config.adversarial.task!r} is not a task of {language.name}; "
                       f"tasks: {sorted(language.tasks)}")
    if language.tasks[config.adversarial.task].labels is None:
      raise ValueError(f"adversarial.task={config.adversarial.task!r} labels external text, not sampled sentences; "
                       "adversarial pre-training needs a task of the synthetic language")
  for field in fields:
    section, name = field.split(".")
    if config[section][name] % n_data:
      raise ValueError(f"{field}={config[section][name]} is not divisible by the {n_data} devices of the "
                       f"mesh's data axis")
  max_length = config.model.get("max_length", 0)
  if max_length and max_length < language.max_length:
    raise ValueError(f"model.max_length={max_length} is smaller than the data's maximum sentence length "
                     f"{language.max_length}")
  vocab = config.model.get("vocab_size", 0)
  if vocab and vocab < language.vocab_size:
    raise ValueError(f"model.vocab_size={vocab} is smaller than the data's vocabulary {language.vocab_size}")
  models_lib.validate_model_config(config.model, language.vocab_size,
                                   max_length or language.max_length)
