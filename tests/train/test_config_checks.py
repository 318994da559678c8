"""Every number of a training config finite, every count a positive integer, checkpoint fields in range: refused
before anything is built, naming the field."""
import pytest

from experiments.configs import tiny
from flatness_jax.train import config_checks


@pytest.mark.parametrize("section,field,value,message", [
    ("train", "sam_rho", float("nan"), "train.sam_rho=nan must be a finite number"),
    ("adversarial", "lambda_max", float("inf"), "adversarial.lambda_max=inf must be a finite number"),
    ("optimizer", "learning_rate", float("inf"), "optimizer.learning_rate=inf must be a finite number"),
    ("checkpoint", "max_to_keep", 0, "checkpoint.max_to_keep=0 must be an integer >= 1"),
    ("checkpoint", "max_to_keep", -1, "checkpoint.max_to_keep=-1 must be an integer >= 1"),
    ("checkpoint", "keep_period", -20, "checkpoint.keep_period=-20 must be an integer >= 0"),
    ("checkpoint", "every", True, "checkpoint.every=True must be an integer >= 1"),
    ("train", "num_steps", True, "train.num_steps=True must be an integer >= 1"),
])
def test_impossible_values_are_refused_naming_the_field(section, field, value, message):
  c = tiny.get_config()
  with c.unlocked():
    c[section][field] = value
  with pytest.raises(ValueError) as info:
    config_checks.validate_train_config(c)
  assert str(info.value).startswith(message), str(info.value)


def test_the_tiny_config_passes():
  config_checks.validate_train_config(tiny.get_config())


def test_a_vmap_seeds_that_is_not_a_bool_is_named():
  config = tiny.get_config()
  config.train.vmap_seeds = "yes"
  with pytest.raises(ValueError, match=r"train.vmap_seeds='yes' must be True or False"):
    config_checks.validate_train_config(config)
