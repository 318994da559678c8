"""Every experiment config, on every language: it builds, validates, names tasks its language has, and (with the
`tiny` word of its argument) runs end to end."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments.configs import algorithms, continued, model_size
from flatness_jax import data as data_lib
from flatness_jax import jobs
from flatness_jax.rundir import fields, jsonio
from flatness_jax.train import adversarial, arms
from tests.conftest import REPO_ROOT

CONFIGS = [(continued, a) for a in ("", "hmm", "released")] + \
          [(algorithms, a) for a in ("", "hmm", "released", "hmm,adversarial", "adversarial",
                                     "hmm,adversarial,long", "released,adversarial,steps=4000")] + \
          [(model_size, a) for a in ("", "hmm", "hmm_lstm", "released", "hmm,long", "hmm_lstm,steps=1800",
                                      "lm,long,xs_steps=8000")]


@pytest.mark.parametrize("module,arg", CONFIGS, ids=[f"{m.__name__.split('.')[-1]}:{a}" for m, a in CONFIGS])
def test_config_builds_with_the_tasks_of_its_language(module, arg, released_grammar_path):
  c = module.get_config(arg)
  subs = arms.run_configs(c)  # validates every run
  assert len(subs) == 3 * len(c.arms)
  tasks = data_lib.make_language(c.data).tasks
  for t in fields.split_list(c.probes.tasks) + fields.split_list(c.curvature.tasks) + [c.adversarial.task]:
    assert t in tasks, (t, sorted(tasks))
  if "hmm" in arg:
    assert c.name.endswith(arg.split(",")[0]) and c.data.kind == "hmm"
  if arg.endswith("lstm"):
    assert {s.model.kind for s in subs.values()} == {"lstm"} and c.curvature.embed_into == "m"


def test_model_size_long_trains_every_size_longer():
  subs = arms.run_configs(model_size.get_config("hmm,long"))
  assert {k.split("/")[0]: s.train.num_steps for k, s in subs.items()} == model_size.LONG_STEPS
  assert model_size.get_config("hmm,long").name == "model_size_long_hmm"


def test_algorithms_long_trains_every_arm_longer_and_measures_its_last_checkpoints():
  c = algorithms.get_config("hmm,adversarial,long")
  subs = arms.run_configs(c)
  assert {s.train.num_steps for s in subs.values()} == {algorithms.LONG_STEPS}
  n = algorithms.LONG_STEPS
  assert c.curvature.steps == c.probes.steps == f"600,{n - 200},{n}"
  assert c.name == "algorithms_long_hmm"
  assert {s.train.num_steps for s in arms.run_configs(algorithms.get_config("hmm")).values()} == {2600}


def test_model_size_steps_trains_s_and_m_that_many_and_xs_twice():
  c = model_size.get_config("hmm_lstm,steps=1800")
  subs = arms.run_configs(c)
  assert {k.split("/")[0]: s.train.num_steps for k, s in subs.items()} == {"xs": 3600, "s": 1800, "m": 1800}
  assert {s.model.kind for s in subs.values()} == {"lstm"} and c.name == "model_size_1800_hmm_lstm"
  with pytest.raises(ValueError, match=r"steps=2000 and long both set the steps; give one"):
    model_size.get_config("hmm,long,steps=2000")
  with pytest.raises(ValueError, match=r"steps=200 must be at least 400"):
    model_size.get_config("pcfg,steps=200")


def test_model_size_xs_steps_sets_xs_alone_over_any_recipe():
  steps = lambda c: {k.split("/")[0]: s.train.num_steps for k, s in arms.run_configs(c).items()}
  c = model_size.get_config("lm,long,xs_steps=8000")
  assert steps(c) == {"xs": 8000, "s": 6000, "m": 6000} and c.name == "model_size_long_xs8000_lm"
  assert steps(model_size.get_config("pcfg,steps=1800,xs_steps=3000")) == {"xs": 3000, "s": 1800, "m": 1800}
  assert steps(model_size.get_config("hmm_lstm,xs_steps=4000")) == {"xs": 4000, "s": 2600, "m": 2600}
  with pytest.raises(ValueError, match=r"xs_steps=200 must be at least 400"):
    model_size.get_config("lm,long,xs_steps=200")


def test_algorithms_steps_trains_every_arm_that_many_and_measures_its_last_checkpoints():
  c = algorithms.get_config("released,adversarial,steps=4000")
  assert {s.train.num_steps for s in arms.run_configs(c).values()} == {4000}
  assert c.curvature.steps == c.probes.steps == "600,3800,4000"
  assert c.name == "algorithms_4000_released"
  with pytest.raises(ValueError, match=r"steps=4000 and long both set the steps; give one"):
    algorithms.get_config("hmm,long,steps=4000")
  with pytest.raises(ValueError, match=r"steps=800 must exceed 800 \(checkpoints 600, N-200 and N are measured\)"):
    algorithms.get_config("hmm,steps=800")


def test_unknown_language_is_named():
  with pytest.raises(ValueError, match=r"configs/continued.py:ptb: unknown word 'ptb'; accepted: pcfg \| hmm"):
    continued.get_config("ptb")


def _tiny(module, arg, workdir, *overrides):
  """Runs `configs/NAME.py:ARG,tiny` (common.tiny), 1 seed, in a subprocess; returns the workdir."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  name = module.__name__.split(".")[-1]
  proc = subprocess.run([sys.executable, "-m", "experiments.main", f"--config=configs/{name}.py:{arg},tiny,seeds=1",
                         f"--workdir={workdir}", *overrides], cwd=REPO_ROOT, env=env, capture_output=True,
                        text=True, timeout=1200)
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert os.path.exists(os.path.join(workdir, "report.md"))
  return workdir


@pytest.mark.slow
def test_tiny_hmm_algorithms_with_the_adversary_at_equal_loss(tmp_path):
  """Slow tier, run by .ci/run beside the tiny tier (the default tier runs one end-to-end pipeline, the quickstart's,
  and the adversary's pieces in process: tests/train/test_adversarial.py, test_algorithms.py); in process. Curvature
  is exercised by the other tiny runs; here the λ control, the HMM tasks and the report's rows."""
  wd = str(tmp_path / "alg")
  config = algorithms.get_config("hmm,adversarial,tiny,seeds=1")
  config.run_arms, config.stages = "adamw,adversarial", "train,probes,report"
  jobs.run(config, wd)
  rows = jsonio.read_jsonl(os.path.join(wd, "adversarial", "metrics.jsonl"))
  lams = [r["adversarial_lambda"] for r in rows if "adversarial_lambda" in r]
  assert lams[0] == pytest.approx(0.05) and len(set(np.round(lams, 8))) > 1  # λ moved
  used = [(r["step"], r["adversarial_lambda"]) for r in rows if "train_loss" in r]
  assert all(lam == 0 for s, lam in used if s <= 10) and all(lam > 0 for s, lam in used if s > 10)  # off before
  control = adversarial.LambdaControl(os.path.join(wd, "adamw"), 0.05, 0.002, 1.5, 10.0, start_step=10)
  summary = json.load(open(os.path.join(wd, "adversarial", "summary.json")))
  assert control.replay(rows, 40) == pytest.approx(summary["adversarial_lambda_final"])
  text = open(os.path.join(wd, "report.md")).read()
  assert "| The algorithm matters at equal loss, task state6 (adversarial − adamw)" in text


FAST = [(continued, "released"), (model_size, "hmm_lstm")]


@pytest.mark.slow
@pytest.mark.parametrize("module,arg", FAST, ids=[f"{m.__name__.split('.')[-1]}:{a}" for m, a in FAST])
def test_tiny_variant_trains_and_reports(module, arg, tmp_path, released_grammar_path):
  """The released grammar and the LSTM sizes through training and the report (slow tier: the default tier runs one
  end-to-end pipeline, the quickstart's, and builds every config of every language; these two restate that run on
  other data)."""
  wd = _tiny(module, arg, str(tmp_path / "run"), "--config.stages=train,report")
  for arm in module.get_config(arg).arms.keys():
    summary = json.load(open(os.path.join(wd, arm, "summary.json")))
    assert np.isfinite(summary["final_gap_relative"]) and summary["final_gap_relative"] > 0, (arm, summary)
    assert json.load(open(os.path.join(wd, arm, "config.json")))["train"]["num_steps"] == 40


SLOW = [(continued, "hmm"), (continued, "released"), (model_size, "hmm_lstm"), (model_size, "hmm"),
        (algorithms, "released,adversarial")]


@pytest.mark.slow
@pytest.mark.parametrize("module,arg", SLOW, ids=[f"{m.__name__.split('.')[-1]}:{a}" for m, a in SLOW])
def test_tiny_variant_runs_end_to_end(module, arg, tmp_path, released_grammar_path):
  wd = _tiny(module, arg, str(tmp_path / "run"))
  assert "## Findings" in open(os.path.join(wd, "report.md")).read()
