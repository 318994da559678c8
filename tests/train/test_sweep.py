"""Arms × pre-training seeds: names, seeds and the recorded arm of every run."""
import pytest

from experiments.configs import quickstart
from flatness_jax.train import sweep


def test_each_arm_is_trained_once_per_seed_with_its_own_seed():
  c = quickstart.get_config()
  c.seed, c.seeds = 10, 3
  subs = sweep.run_configs(c)
  assert list(subs) == [f"{a}/seed_{k}" for a in ("cpu_s", "cpu_m") for k in range(3)]
  assert [s.seed for s in subs.values()] == [10, 11, 12, 10, 11, 12]
  assert [(s.arm, s.replicate, s.model.preset) for s in list(subs.values())[3:4]] == [("cpu_m", 0, "cpu_m")]
  assert all(s.job == "train" and "seeds" not in s and "sizes" not in s for s in subs.values())


def test_one_seed_keeps_the_plain_layout():
  c = quickstart.get_config()
  c.variants = "a:train.num_steps=300;b:train.num_steps=400"
  subs = sweep.run_configs(c)
  assert list(subs) == ["a", "b"] and subs["b"].train.num_steps == 400 and subs["a"].seed == c.seed


@pytest.mark.parametrize("bad", [0, -1])
def test_seeds_must_be_positive(bad):
  c = quickstart.get_config()
  c.seeds = bad
  with pytest.raises(ValueError, match=f"seeds={bad} must be a positive integer"):
    sweep.run_configs(c)
