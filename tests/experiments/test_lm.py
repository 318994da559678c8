"""configs/lm.py end to end on its tiny variant (mock GLUE), its one-line errors, and every experiment config on the
LM language (`:lm`): built and validated at full size, and end to end in its tiny variant."""
import contextlib
import json
import os
import subprocess
import sys

import pytest

from experiments.configs import algorithms, continued, lm, model_size
from flatness_jax.data import make_language
from flatness_jax import jobs
from flatness_jax.eval import probing
from flatness_jax.models import make_model
from flatness_jax.parallel import mesh as mesh_lib
from flatness_jax.rundir import rundir
from flatness_jax.train import arms, config_checks
from tests.conftest import REPO_ROOT
from tests.experiments.test_configs import _tiny


def _mock_glue():
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    import array_record  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return contextlib.nullcontext(), False
  return tfds.testing.mock_data(num_examples=24), True


@pytest.mark.slow
def test_tiny_lm_pipeline_end_to_end(tmp_path, capsys):
  """Slow tier, run by .ci/run beside the tiny tier (the default tier's end-to-end pipeline is the quickstart's; the
  LM language, its data card and mock-GLUE tasks are tested in tests/data); in process."""
  wd = str(tmp_path / "lm")
  config = lm.get_config("tiny")
  mock, have_glue = _mock_glue()
  with mock:
    jobs.run(config, wd)
  out = capsys.readouterr().out
  card = json.load(open(os.path.join(wd, "data_card.json")))
  assert card["token_set"]["num_tokens"] == 16 and "most frequent" in card["token_set"]["selection"]
  assert card["optimal_loss_se"] > 0 and "one uniformly drawn position" in card["optimal_loss_estimator"]
  run = os.path.join(wd, "cpu_tiny")
  summary = json.load(open(os.path.join(run, "summary.json")))
  se = (card["optimal_loss_se"] ** 2 + summary["optimal_loss_se"] ** 2) ** 0.5
  assert abs(card["optimal_loss"] - summary["optimal_loss"]) < 5 * se  # two estimates of one L*
  rebuilt = rundir.RunDir(run).language  # from config.json alone
  assert rebuilt.name == card["name"] and rebuilt.token_ids.tolist() == card["token_set"]["token_ids"]
  prompt = card["tasks"]["prompt"]
  assert prompt["num_classes"] == 4 and prompt["majority_accuracy_exact"] == 0.25
  assert prompt["bayes_accuracy"] > 0.25 + 4 * prompt["bayes_accuracy_se"]  # the prompt can be told from the text
  probes = json.load(open(os.path.join(run, "probes.json")))
  step = max(probes["steps"], key=int)
  assert 0.0 <= probes["steps"][step]["prompt"]["accuracy_mean"] <= 1.0
  if have_glue:
    for task in ("qnli", "sst2"):
      assert 0.0 <= probes["steps"][step][task]["accuracy_mean"] <= 1.0
      assert 0.0 <= probes["tasks"][task]["test (GLUE validation)"]["out_of_set_rate"] <= 1.0
      assert card["tasks"][task]["split_sizes"] == [21, 3, 24]
  else:
    assert sorted(probes["skipped"]) == ["qnli", "sst2"] and "probes: task qnli skipped:" in out
  assert os.path.exists(os.path.join(wd, "report.md"))


def test_unprepared_glue_is_skipped_saying_how_to_prepare_it(tmp_path):
  config = lm.get_config("tiny")
  config.data.glue_dir = str(tmp_path / "no_glue")
  lang = make_language(config.data)
  datasets, skipped = probing.task_datasets(lang, ["qnli", "sst2"], 10, 0)
  assert not datasets and sorted(skipped) == ["qnli", "sst2"]
  assert all("tfds build glue/" in why and "\n" not in why for why in skipped.values())  # the job prints each


def test_bad_lm_field_is_one_line():
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO_ROOT)
  proc = subprocess.run([sys.executable, "-m", "experiments.main", "--config=configs/lm.py:tiny",
                         "--workdir=/tmp/unused_lm_run", "--config.data.temperature=-1"], cwd=REPO_ROOT, env=env,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines()[-1] == "error: data.temperature=-1.0 must be a number > 0"


LM_EXPERIMENTS = [(continued, "lm"), (model_size, "lm"), (algorithms, "lm,adversarial")]


@pytest.mark.parametrize("module,arg", LM_EXPERIMENTS,
                         ids=[f"{m.__name__.split('.')[-1]}:{a}" for m, a in LM_EXPERIMENTS])
def test_every_experiment_takes_the_lm_language(module, arg):
  config = module.get_config(arg)
  assert config.name.endswith("_lm") and (config.data.kind, config.data.preset) == ("lm", "cpu")
  mesh = mesh_lib.make_mesh(1)
  lang = make_language(config.data)
  assert {"prompt", "qnli", "sst2"} <= set(lang.tasks) and lang.tasks["prompt"].labels is not None
  runs = arms.run_configs(config)
  assert len(runs) == 3 * len(config.arms)
  for name, sub in runs.items():
    config_checks.validate_train_config(sub)
    config_checks.validate_against_data(sub, lang, mesh)  # the adversary's task labels sampled sentences
    assert probing.task_names(lang, sub.probes.tasks) == ["prompt", "qnli", "sst2"], name
    assert sub.curvature.tasks == "prompt" and sub.probes.pooling == "mean" and not sub.probes.lookup
    make_model(sub.model, lang.vocab_size, lang.max_length)


def test_adversarial_pretraining_refuses_a_glue_task():
  config = lm.get_config("tiny")
  config.train.algorithm = "adversarial"
  config.adversarial.task = "sst2"
  lang = make_language(config.data)
  with pytest.raises(ValueError, match="adversarial.task='sst2' labels external text"):
    config_checks.validate_against_data(config, lang, mesh_lib.make_mesh(1))


@pytest.mark.slow
def test_tiny_lm_algorithms_with_the_adversary_on_the_prompt_task(tmp_path):
  """Slow tier, one training run: an experiment config on the LM language (its tiny form) end to end, with the
  adversary on the prompt task (fixed λ: its λ control is tested on the HMM), prompt probes and the report; every
  arm and the curvature stage run in the slow tier below."""
  wd = _tiny(algorithms, "lm,adversarial", str(tmp_path / "alg"), "--config.run_arms=adversarial",
             "--config.arms.adversarial.adversarial.match_gap_of=", "--config.stages=train,probes,report")
  assert json.load(open(os.path.join(wd, "adversarial", "config.json")))["data"]["max_length"] == 4  # tiny form
  rows = [json.loads(line) for line in open(os.path.join(wd, "adversarial", "metrics.jsonl"))]
  used = [(r["step"], r["adversarial_lambda"]) for r in rows if "train_loss" in r]
  assert used and all(lam > 0 for s, lam in used if s > 10)  # the adversary is on after its start step
  probes = json.load(open(os.path.join(wd, "adversarial", "probes.json")))
  assert all(0.0 <= step["prompt"]["accuracy_mean"] <= 1.0 for step in probes["steps"].values())
  assert sorted(probes["skipped"]) == ["qnli", "sst2"] or "qnli" in json.dumps(probes["steps"])
  assert "acc prompt %" in open(os.path.join(wd, "report.md")).read()


@pytest.mark.slow
@pytest.mark.parametrize("module,arg", [(continued, "lm"), (model_size, "lm"), (algorithms, "lm,adversarial")])
def test_tiny_lm_experiment_end_to_end(module, arg, tmp_path):
  """Every arm and stage, curvature included (the prompt task's downstream-loss trace)."""
  wd = _tiny(module, arg, str(tmp_path / "run"))
  arm = list(module.get_config(arg).arms.keys())[0]
  assert "prompt" in json.dumps(json.load(open(os.path.join(wd, arm, "curvature.json"))))
  assert "## Findings" in open(os.path.join(wd, "report.md")).read()
