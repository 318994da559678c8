"""configs/lm.py end to end on its tiny variant (mock GLUE), its one-line errors, and the experiment configs that
take the LM language through the same training loop."""
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


def _mock_glue():
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    import array_record  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return contextlib.nullcontext(), False
  return tfds.testing.mock_data(num_examples=24), True


def test_tiny_lm_pipeline_end_to_end(tmp_path, capsys):
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
  probes = json.load(open(os.path.join(run, "probes.json")))
  if have_glue:
    step = max(probes["steps"], key=int)
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


LM_OVERRIDES = {"data.kind": "lm", "data.preset": "tiny", "probes.tasks": "qnli,sst2", "probes.pooling": "mean",
                "probes.lookup": False, "curvature.tasks": ""}


@pytest.mark.parametrize("module", [continued, model_size, algorithms])
def test_experiment_configs_accept_the_lm_language(module):
  config = module.get_config()
  with config.unlocked():
    for key, value in LM_OVERRIDES.items():
      section, field = key.split(".")
      config[section][field] = value
  mesh = mesh_lib.make_mesh(1)
  for name, sub in arms.run_configs(config).items():
    config_checks.validate_train_config(sub)
    lang = make_language(sub.data)
    config_checks.validate_against_data(sub, lang, mesh)
    assert probing.task_names(lang, sub.probes.tasks) == ["qnli", "sst2"], name
    make_model(sub.model, lang.vocab_size, lang.max_length)


def test_adversarial_pretraining_refuses_a_glue_task():
  config = lm.get_config("tiny")
  config.train.algorithm = "adversarial"
  lang = make_language(config.data)
  with pytest.raises(ValueError, match="adversarial.task='sst2' labels external text"):
    config_checks.validate_against_data(config, lang, mesh_lib.make_mesh(1))
