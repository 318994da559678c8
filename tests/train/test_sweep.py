"""Arms × pre-training seeds: names, seeds and the recorded arm of every run."""
import pytest

from experiments.configs import quickstart
from flatness_jax.train import sweep


def test_each_arm_is_trained_once_per_seed_with_its_own_seed():
  c = quickstart.get_config()
  c.seed, c.seeds, c.sizes = 10, 3, "cpu_s,cpu_m"
  subs = sweep.run_configs(c)
  assert list(subs) == [f"{a}/seed_{k}" for a in ("cpu_s", "cpu_m") for k in range(3)]
  assert [s.seed for s in subs.values()] == [10, 11, 12, 10, 11, 12]
  assert [(s.arm, s.replicate, s.model.preset) for s in list(subs.values())[3:4]] == [("cpu_m", 0, "cpu_m")]
  assert all(s.job == "train" and "seeds" not in s and "sizes" not in s for s in subs.values())


def test_size_overrides_apply_to_the_size_they_name_only():
  c = quickstart.get_config()
  c.sizes, c.size_overrides = "cpu_xs,cpu_s", "cpu_xs:train.num_steps=5200,optimizer.learning_rate=0.001"
  subs = sweep.run_configs(c)
  assert (subs["cpu_xs"].train.num_steps, subs["cpu_xs"].optimizer.learning_rate) == (5200, 0.001)
  assert (subs["cpu_s"].train.num_steps, subs["cpu_s"].optimizer.learning_rate) == (2600, 3e-3)
  assert all("size_overrides" not in s for s in subs.values())
  c.size_overrides = "cpu_xs:train.no_such_field=1"
  with pytest.raises(ValueError, match="unknown config field 'train.no_such_field'"):
    sweep.run_configs(c)
  c.size_overrides = "cpu_xss:train.num_steps=10"  # a typo in the size: named, not silently ignored
  with pytest.raises(ValueError, match=r"size_overrides names \['cpu_xss'\], not model presets"):
    sweep.run_configs(c)
  c.size_overrides = "cpu_xs:train.num_steps"
  with pytest.raises(ValueError, match="'train.num_steps' in variant 'cpu_xs' is not key=value"):
    sweep.run_configs(c)


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
