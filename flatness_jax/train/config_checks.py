"""Cheap checks of a training config, run before anything is compiled; errors name the offending field."""
from flatness_jax import models as models_lib
from flatness_jax.parallel import mesh as mesh_lib
from flatness_jax.train import objective, optim


def _positive(config, path: str) -> None:
  value = config
  for part in path.split("."):
    value = value[part]
  if not isinstance(value, int) or value <= 0:
    raise ValueError(f"{path}={value!r} must be a positive integer")


def validate_train_config(config) -> None:
  """Checks fields that need neither the data nor the devices."""
  for field in ("train.num_steps", "train.batch_size", "train.steps_per_call", "eval.every", "eval.num_pairs",
                "eval.batch_size", "checkpoint.every"):
    _positive(config, field)
  if config.train.masking not in objective.MASKINGS:
    raise ValueError(f"train.masking={config.train.masking!r} is unknown; choose one of {objective.MASKINGS}")
  optim.validate_optimizer_config(config.optimizer, config.train.num_steps)


def validate_against_data(config, language, mesh) -> None:
  """Checks the config against the language (vocabulary, length) and the mesh (divisibility)."""
  n_data = mesh.shape[mesh_lib.DATA_AXIS]
  for field in ("train.batch_size", "eval.batch_size"):
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
