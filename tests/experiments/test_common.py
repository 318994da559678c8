"""experiments/configs/common.py: the config argument (parse_arg) and the one tiny mechanism (tiny), on every config
and every documented `configs/NAME.py:ARG`."""
import glob
import importlib
import os
import re

import pytest

from experiments.configs import algorithms, common, languages, model_size, quickstart
from flatness_jax.train import arms
from tests.conftest import REPO_ROOT

CONFIG_DIR = os.path.join(REPO_ROOT, "experiments", "configs")
# Every config that trains: pipelines (arms, several stages) and single runs.
PIPELINES = ("quickstart", "algorithms", "model_size", "continued", "batch_sweep", "lm")
SINGLE_RUNS = ("pcfg", "hmm", "tiny")


def _config(name: str, arg=None):
  module = importlib.import_module(f"experiments.configs.{name}")
  return module.get_config(arg) if arg is not None else module.get_config()


def _documented() -> list:
  """Every `configs/NAME.py:ARG` written in the configs' docstrings and the README (NAME a config that exists)."""
  texts = [open(p).read() for p in glob.glob(os.path.join(CONFIG_DIR, "*.py"))]
  texts.append(open(os.path.join(REPO_ROOT, "README.md")).read())
  found = {m for t in texts for m in re.findall(r"configs/(\w+)\.py:([\w,=]+)", t)}
  return sorted((n, a) for n, a in found if os.path.exists(os.path.join(CONFIG_DIR, f"{n}.py")))


# The commands the docs give (issue 26): each must keep working exactly as written.
DOCUMENTED = [("algorithms", "hmm,adversarial"), ("algorithms", "hmm,adversarial,long"), ("algorithms", "released"),
              ("algorithms", "adversarial"),
              ("model_size", "hmm,long"), ("model_size", "hmm_lstm"), ("model_size", "released,long"),
              ("continued", "hmm"), ("continued", "released"), ("data_card", "released"), ("quickstart", "tiny"),
              ("hmm", "bert"), ("hmm", "paper"), ("pcfg", "released"), ("pcfg", "paper"), ("lm", "opt125m"),
              ("lm", "tiny")]


@pytest.mark.parametrize("name,arg", sorted(set(DOCUMENTED) | set(_documented())))
def test_every_documented_argument_builds(name, arg):
  c = _config(name, arg)
  if "arms" in c:
    assert arms.run_configs(c)
  elif "model" in c:
    assert None not in dict(arms.resolve_run_config(c).model).values()


def test_parse_arg_types_the_words():
  a = common.parse_arg("hmm, adversarial,seeds=5", "x.py", lang=languages.CHOICE, adversarial=False, tiny=False,
                       seeds=3, rate=0.5)
  assert a.to_dict() == {"lang": "hmm", "adversarial": True, "tiny": False, "seeds": 5, "rate": 0.5}
  assert common.parse_arg("lang=released,tiny=false,rate=2", "x.py", lang=languages.CHOICE, tiny=True,
                          rate=0.5).to_dict() == {"lang": "released", "tiny": False, "rate": 2.0}
  assert common.parse_arg(None, "x.py", lang=languages.CHOICE).lang == "pcfg"
  assert algorithms.get_config("hmm,seeds=5").seeds == 5


@pytest.mark.parametrize("arg,message", [
    ("hmm,adversarail", r"configs/algorithms.py:hmm,adversarail: unknown word 'adversarail'; accepted: pcfg \| hmm \| "
                        r"released \| lm \(lang\), adversarial, trace_penalty, long, steps=INT, tiny, seeds=INT"),
    ("seeds=three", r"configs/algorithms.py:seeds=three: seeds='three' is not int"),
    ("tiny=yes", r"configs/algorithms.py:tiny=yes: tiny='yes' is not a bool \(true or false\)"),
    ("hmm,released", r"configs/algorithms.py:hmm,released: 'hmm' and 'released' both set lang; give one"),
    ("lang=ptb", r"configs/algorithms.py:lang=ptb: lang='ptb' is not one of \['pcfg', 'hmm', 'released', 'lm'\]"),
    ("size=s", r"configs/algorithms.py:size=s: unknown word 'size=s'"),
])
def test_a_bad_argument_is_named(arg, message):
  with pytest.raises(ValueError, match=message):
    algorithms.get_config(arg)


@pytest.mark.parametrize("name,arg", [("model_size", "long,hmm_lstm,released"), ("pcfg", "released,paper"),
                                      ("data_card", "tiny"), ("quickstart", "hmm"), ("lm", "gpt2")])
def test_every_config_refuses_what_it_does_not_accept(name, arg):
  with pytest.raises(ValueError, match=f"configs/{name}.py:{arg}: "):
    _config(name, arg)


@pytest.mark.parametrize("name", PIPELINES + SINGLE_RUNS)
def test_every_field_tiny_shrinks_exists_in_every_training_config(name):
  c = _config(name)
  for dotted in common.TINY:
    section, field = dotted.split(".")
    if name in PIPELINES or section not in common.PIPELINE_SECTIONS:
      assert section in c and field in c[section], f"configs/{name}.py has no {dotted}"
  shrunk = common.tiny(_config(name))
  for dotted, value in common.TINY.items():
    section, field = dotted.split(".")
    if section in shrunk:
      assert shrunk[section][field] == value, dotted


def test_tiny_names_a_missing_field():
  c = quickstart.get_config()
  with c.unlocked():
    del c.curvature["rtol"]
  with pytest.raises(ValueError, match="tiny: the config has no field 'curvature.rtol'"):
    common.tiny(c)


def test_tiny_keeps_the_language_and_arms_and_shrinks_their_steps():
  full = arms.run_configs(algorithms.get_config("hmm,adversarial"))
  small = arms.run_configs(algorithms.get_config("hmm,adversarial,tiny"))
  assert list(small) == list(full)
  for name, run in small.items():
    assert (run.data.to_dict(), run.train.algorithm, run.optimizer.name) == (
        full[name].data.to_dict(), full[name].train.algorithm, full[name].optimizer.name)
    assert run.train.num_steps == 40 and run.adversarial.start_step in (0, common.TINY_START_STEP)
  long = arms.run_configs(model_size.get_config("hmm,long,tiny"))
  assert {s.train.num_steps for s in long.values()} == {40}
  assert [s.model.preset for s in long.values()][::3] == ["cpu_xs", "cpu_s", "cpu_m"]
