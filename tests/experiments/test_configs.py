"""Every experiment config, on every language: it builds, validates, names tasks its language has, and (in a tiny
variant) runs end to end."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments.configs import algorithms, continued, model_size, quickstart
from flatness_jax import data as data_lib
from flatness_jax.rundir import fields, jsonio
from flatness_jax.train import adversarial, sweep
from tests.conftest import REPO_ROOT

CONFIGS = [(continued, a) for a in ("", "hmm", "released")] + \
          [(algorithms, a) for a in ("", "hmm", "released", "hmm,adversarial", "adversarial")] + \
          [(model_size, a) for a in ("", "hmm", "hmm_lstm", "released", "hmm,long")]


@pytest.mark.parametrize("module,arg", CONFIGS, ids=[f"{m.__name__.split('.')[-1]}:{a}" for m, a in CONFIGS])
def test_config_builds_with_the_tasks_of_its_language(module, arg, released_grammar_path):
  c = module.get_config(arg)
  subs = sweep.run_configs(c)  # validates every run
  assert len(subs) == 3 * len(sweep.parse_variants(c.variants) or fields.split_list(c.sizes))
  tasks = data_lib.make_language(c.data).tasks
  for t in fields.split_list(c.probes.tasks) + fields.split_list(c.curvature.tasks) + [c.adversarial.task]:
    assert t in tasks, (t, sorted(tasks))
  if "hmm" in arg:
    assert c.name.endswith(arg.split(",")[0]) and c.data.kind == "hmm"
  if arg.endswith("lstm"):
    assert {s.model.kind for s in subs.values()} == {"lstm"} and c.curvature.embed_into == "m"


def test_model_size_long_trains_every_size_longer_and_tiny_keeps_it_short():
  subs = sweep.run_configs(model_size.get_config("hmm,long"))
  assert {k.split("/")[0]: s.train.num_steps for k, s in subs.items()} == model_size.LONG_STEPS
  tiny = sweep.run_configs(quickstart.shrink(model_size.get_config("hmm,long")))
  assert {s.train.num_steps for s in tiny.values()} == {40}
  with pytest.raises(ValueError, match="at most one language and 'long'"):
    model_size.get_config("hmm,released")


def test_unknown_language_is_named():
  with pytest.raises(ValueError, match="unknown language 'ptb'"):
    continued.get_config("ptb")


def _tiny(module, arg, workdir, variants=None, stages=None):
  """Runs `module.get_config(arg)` shrunk (quickstart.shrink), 1 seed, in a subprocess; returns the workdir."""
  c = quickstart.shrink(module.get_config(arg))
  overrides = ["--config.seeds=1", f"--config.train.num_steps={c.train.num_steps}",
               f"--config.train.batch_size={c.train.batch_size}", "--config.train.steps_per_call=10",
               "--config.optimizer.warmup_steps=5", "--config.eval.every=20", "--config.eval.num_pairs=256",
               "--config.eval.batch_size=128", "--config.checkpoint.every=20", "--config.checkpoint.keep_period=20",
               "--config.curvature.steps=last:2", "--config.curvature.num_pairs=128", "--config.curvature.batch_size=64",
               "--config.curvature.fisher_examples=128", "--config.curvature.downstream_examples=128",
               "--config.curvature.num_matvecs=12", "--config.curvature.lanczos_iters=6",
               "--config.curvature.methods=hutchinson", "--config.curvature.head_epochs=5",
               "--config.probes.steps=last:2", "--config.probes.num_examples=400", "--config.probes.seeds=2",
               "--config.probes.epochs=10", "--config.adversarial.refit_every=20",
               "--config.adversarial.head_examples=128", "--config.adversarial.batch_size=16",
               "--config.adversarial.head_steps=20", f"--config.variants={variants or c.variants}"]
  if stages:
    overrides.append(f"--config.stages={stages}")
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  name = module.__name__.split(".")[-1]
  proc = subprocess.run([sys.executable, "-m", "experiments.main", f"--config=configs/{name}.py:{arg}",
                         f"--workdir={workdir}", *overrides], cwd=REPO_ROOT, env=env, capture_output=True,
                        text=True, timeout=1200)
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert os.path.exists(os.path.join(workdir, "report.md"))
  return workdir


def test_tiny_hmm_algorithms_with_the_adversary_at_equal_loss(tmp_path):
  arms = ";".join(v for v in algorithms.get_config("adversarial").variants.split(";")
                  if v.startswith(("adamw", "adversarial"))) + ",adversarial.start_step=10"
  # Curvature is exercised by the other tiny runs; here the λ control, the HMM tasks and the report's rows.
  wd = _tiny(algorithms, "hmm,adversarial", str(tmp_path / "alg"), variants=arms, stages="train,probes,report")
  rows = jsonio.read_jsonl(os.path.join(wd, "adversarial", "metrics.jsonl"))
  lams = [r["adversarial_lambda"] for r in rows if "adversarial_lambda" in r]
  assert lams[0] == pytest.approx(0.05) and len(set(np.round(lams, 8))) > 1  # λ moved
  used = [(r["step"], r["adversarial_lambda"]) for r in rows if "train_loss" in r]
  assert all(lam == 0 for s, lam in used if s <= 10) and all(lam > 0 for s, lam in used if s > 10)  # off before
  control = adversarial.LambdaControl(os.path.join(wd, "adamw"), 0.05, 0.002, 1.5, 10.0, start_step=10)
  summary = json.load(open(os.path.join(wd, "adversarial", "summary.json")))
  assert control.replay(rows, 40) == pytest.approx(summary["adversarial_lambda_final"])
  text = open(os.path.join(wd, "report.md")).read()
  assert "| The algorithm matters at fixed size, task state6" in text and "adversarial − adamw" in text


FAST = [(continued, "released"), (model_size, "hmm_lstm")]


@pytest.mark.parametrize("module,arg", FAST, ids=[f"{m.__name__.split('.')[-1]}:{a}" for m, a in FAST])
def test_tiny_variant_trains_and_reports(module, arg, tmp_path, released_grammar_path):
  """Default tier: the released grammar and the LSTM sizes through training and the report (their curvature and
  probes run in the slow tier below; the stages themselves are exercised on every language by the other tests)."""
  wd = _tiny(module, arg, str(tmp_path / "run"), stages="train,report")
  c = module.get_config(arg)
  arms = list(sweep.parse_variants(c.variants)) or fields.split_list(c.sizes)
  for arm in arms:
    summary = json.load(open(os.path.join(wd, arm, "summary.json")))
    assert np.isfinite(summary["final_gap_relative"]) and summary["final_gap_relative"] > 0, (arm, summary)


SLOW = [(continued, "hmm"), (continued, "released"), (model_size, "hmm_lstm"), (model_size, "hmm"),
        (algorithms, "released,adversarial")]


@pytest.mark.slow
@pytest.mark.parametrize("module,arg", SLOW, ids=[f"{m.__name__.split('.')[-1]}:{a}" for m, a in SLOW])
def test_tiny_variant_runs_end_to_end(module, arg, tmp_path, released_grammar_path):
  wd = _tiny(module, arg, str(tmp_path / "run"))
  assert "## Findings" in open(os.path.join(wd, "report.md")).read()
