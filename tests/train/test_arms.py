"""Arms × pre-training seeds (names, seeds, the recorded arm of every run), arms as nested ConfigDicts reached by
dotted flags, and run-config resolution: the last flag wins, a preset never overrides an explicit value."""
import os

import jax
import jax.numpy as jnp
import ml_collections
import pytest
from absl import flags
from ml_collections import config_flags

from experiments.configs import algorithms, continued, model_size, quickstart
from flatness_jax import models
from flatness_jax.eval import probing
from flatness_jax.train import arms
from tests.conftest import REPO_ROOT


def _parse(config: str, *overrides):
  """The config experiments.main would get from `--config=configs/<config> <overrides>` (flags parsed in order)."""
  argv = ["main", "--config=" + os.path.join(REPO_ROOT, "experiments", "configs", config), *overrides]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "", flag_values=values, lock_config=True, sys_argv=argv)
  values(argv)
  return values.config


def _num_params(model_config, vocab_size=50, max_length=16):
  model = models.make_model(model_config, vocab_size, max_length)
  tokens = jnp.zeros((1, max_length), jnp.int32)
  shapes = jax.eval_shape(model.init, jax.random.key(0), tokens, jnp.zeros((1,), jnp.int32))
  return models.count_params(shapes)


@pytest.mark.parametrize("preset_first", [True, False])
def test_an_explicit_flag_beats_the_preset_in_either_order(preset_first):
  """Issue 26: `--config.model.preset=cpu_m --config.model.d_model=64` trained d_model 128 while config.json said 64
  (the old rule applied the preset to every field still equal to its default)."""
  flags_ = ["--config.model.preset=cpu_m", "--config.model.d_model=64"]
  config = _parse("pcfg.py", *(flags_ if preset_first else flags_[::-1]))
  run = arms.resolve_run_config(config)
  assert (run.model.preset, run.model.d_model, run.model.d_ff) == ("cpu_m", 64, 512)
  expected = models.bert_param_count(50, 16, d_model=64, num_layers=2, num_heads=4, d_ff=512)
  assert _num_params(run.model) == _num_params(config.model) == expected
  assert expected != models.bert_param_count(50, 16, d_model=128, num_layers=2, num_heads=4, d_ff=512)


def test_an_explicit_base_field_beats_an_arms_preset():
  runs = arms.run_configs(_parse("continued.py", "--config.model.d_model=32", "--config.seeds=1"))
  assert (runs["cpu_s"].model.preset, runs["cpu_s"].model.d_model, runs["cpu_s"].model.d_ff) == ("cpu_s", 32, 256)


def test_an_arm_sets_size_fields_under_a_preset():
  c = quickstart.get_config()  # base preset cpu_s
  c.seeds = 1
  c.arms = arms.make_arms(narrow={"model.d_model": 32},
                          m_ff256={"model.preset": "cpu_m", "model.d_ff": 256})  # 256 = the unset default
  runs = arms.run_configs(c)
  assert [runs["narrow"].model[k] for k in ("preset", "d_model", "num_heads", "d_ff")] == ["cpu_s", 32, 4, 256]
  assert [runs["m_ff256"].model[k] for k in ("preset", "d_model", "num_heads", "d_ff")] == ["cpu_m", 128, 4, 256]
  m = arms.run_configs(model_size.get_config("seeds=1"))["m"].model
  assert (m.preset, m.d_model, m.num_heads, m.head_dim, m.d_ff) == ("cpu_m", 128, 8, 16, 512)


def test_resolution_is_idempotent_and_leaves_no_unset_field():
  for config in (_parse("pcfg.py", "--config.model.d_model=64"), _parse("hmm.py"), _parse("tiny.py")):
    run = arms.resolve_run_config(config)
    assert None not in dict(run.model).values()
    assert arms.resolve_run_config(run) == run
    assert models.resolve_model_config(run.model).to_dict() == run.model.to_dict()
  for run in arms.run_configs(model_size.get_config("hmm_lstm")).values():
    assert None not in dict(run.model).values() and run.model.kind == "lstm"
    assert arms.resolve_run_config(run) == run


def test_each_arm_is_trained_once_per_seed_with_its_own_seed():
  c = quickstart.get_config()
  c.seed, c.seeds, c.run_arms = 10, 3, "cpu_s,cpu_m"  # cpu_m is no arm of the quickstart: a preset, trained as one
  subs = arms.run_configs(c)
  assert list(subs) == [f"{a}/seed_{k}" for a in ("cpu_s", "cpu_m") for k in range(3)]
  assert [s.seed for s in subs.values()] == [arms.stream_seed(10, a, k, "pretraining")
                                             for a in ("cpu_s", "cpu_m") for k in range(3)]
  assert [(s.arm, s.replicate, s.model.preset, s.model.d_model) for s in list(subs.values())[3:4]] == [
      ("cpu_m", 0, "cpu_m", 128)]
  assert all(s.job == "train" and not {"seeds", "arms", "run_arms"} & set(s) for s in subs.values())


def test_arm_fields_apply_to_their_arm_only():
  subs = arms.run_configs(quickstart.get_config())
  assert list(subs) == ["cpu_xs", "cpu_s"]
  assert (subs["cpu_xs"].train.num_steps, subs["cpu_xs"].model.d_model) == (3600, 32)
  assert (subs["cpu_s"].train.num_steps, subs["cpu_s"].model.d_model) == (1800, 64)
  assert quickstart.get_config().train.num_steps == 2600  # the base the experiments built on it train


@pytest.mark.parametrize("overrides,message", [
    ({"train.no_such_field": 1}, "arm 'bad': 'train.no_such_field' is not a field of the config"),
    ({"trian.num_steps": 1}, "arm 'bad': 'trian' is not a field of the config"),
    ({"train.num_steps.x": 1}, "arm 'bad': 'train.num_steps' is a value, not a section"),
    ({"train": 3}, "arm 'bad': 'train' is a section of the config"),
    ({"train.num_steps": "many"}, "arm 'bad': train.num_steps='many'"),
    ({"model.d_model": "wide"}, "arm 'bad': model.d_model='wide'"),  # typed placeholder: type-checked too
])
def test_a_bad_arm_field_is_named(overrides, message):
  c = quickstart.get_config()
  c.arms = arms.make_arms(good={}, bad=overrides)
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
    arms.run_configs(c)


def test_run_arms_names_are_checked():
  c = quickstart.get_config()
  c.run_arms = "cpu_s,cpu_xss"
  known = r"\(\['cpu_xs', 'cpu_s'\]\) nor a model preset"
  with pytest.raises(ValueError, match=r"run_arms: 'cpu_xss' is neither an arm of this config " + known):
    arms.run_configs(c)
  c.run_arms = "cpu_s,cpu_s"
  with pytest.raises(ValueError, match=r"run_arms names \['cpu_s'\] more than once"):
    arms.run_configs(c)
  c.run_arms, c.arms = "", ml_collections.ConfigDict()
  with pytest.raises(ValueError, match="nothing to train"):
    arms.run_configs(c)


def test_arms_keep_their_order_and_dotted_flags_reach_them():
  config = _parse("algorithms.py:hmm,adversarial", "--config.arms.sgd.optimizer.learning_rate=0.05",
                  "--config.arms.adversarial.adversarial.start_step=400", "--config.seeds=1")
  assert list(config.arms.keys()) == ["adamw", "sgd", "sam", "adversarial"]  # adamw first: the reference
  runs = arms.run_configs(config)
  assert list(runs) == ["adamw", "sgd", "sam", "adversarial"]
  assert (runs["sgd"].optimizer.learning_rate, runs["adamw"].optimizer.learning_rate) == (0.05, 3e-3)
  assert runs["adversarial"].adversarial.start_step == 400 and runs["sam"].adversarial.start_step == 0


def test_a_reference_arm_must_train_first():
  c = algorithms.get_config("adversarial")
  c.run_arms = "adversarial,adamw"
  with pytest.raises(ValueError, match="arm 'adversarial': adversarial.match_gap_of='adamw' must train before it"):
    arms.run_configs(c)
  c.run_arms = "adversarial"  # the reference trained earlier (another call): allowed
  assert list(arms.run_configs(c)) == [f"adversarial/seed_{k}" for k in range(3)]


def test_one_seed_keeps_the_plain_layout_and_an_arm_may_set_its_own_seeds():
  c = continued.get_config("seeds=1")
  c.arms = arms.make_arms(a={"train.num_steps": 300}, b={"train.num_steps": 400, "seeds": 2})
  subs = arms.run_configs(c)
  assert list(subs) == ["a", "b/seed_0", "b/seed_1"] and subs["b/seed_1"].train.num_steps == 400
  assert subs["a"].seed == arms.stream_seed(c.seed, "a", 0, "pretraining")
  assert (subs["b/seed_1"].arm, subs["b/seed_1"].replicate) == ("b", 1)


@pytest.mark.parametrize("bad", [0, -1])
def test_seeds_must_be_positive(bad):
  c = quickstart.get_config()
  c.seeds = bad
  with pytest.raises(ValueError, match=f"seeds={bad} must be a positive integer"):
    arms.run_configs(c)


def test_every_run_draws_its_own_streams():
  """Independent replicates: no two runs of an experiment share a pre-training, adversary or probe seed; the seeds
  depend on the base seed, the arm and the replicate only (not on which other arms train, or in what order)."""
  c = algorithms.get_config("adversarial")
  runs = arms.run_configs(c)
  for field in ("seed", "adversarial.seed"):
    values = [s.seed if field == "seed" else s.adversarial.seed for s in runs.values()]
    assert len(set(values)) == len(values), field
    assert all(0 <= v < 2 ** 31 for v in values)
  probes = [probing.probe_seed(c.probes.seed, s) for s in runs.values()]
  assert len(set(probes)) == len(probes)
  c.run_arms = "sam,adamw"
  subset = arms.run_configs(c)
  assert subset["sam/seed_1"].seed == runs["sam/seed_1"].seed
  assert subset["adamw/seed_2"].adversarial.seed == runs["adamw/seed_2"].adversarial.seed
  c.seed = 1
  assert arms.run_configs(c)["sam/seed_1"].seed != runs["sam/seed_1"].seed
  # The shared instruments stay shared: held-out pairs and curvature pairs.
  assert len({s.eval.seed for s in runs.values()}) == 1 and len({s.curvature.seed for s in runs.values()}) == 1
  # A run outside an experiment's arms keeps the probe seed it was given.
  assert probing.probe_seed(2024, {"seed": 0}) == 2024
