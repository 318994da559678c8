"""The Language interface the training and evaluation code rely on, through make_language."""
import json
import os
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest

from flatness_jax.data import GrammarWarning, make_language
from flatness_jax.jobs.data_card import run_data_card
from tests.conftest import REPO_ROOT


def _config(**kw):
  c = ml_collections.ConfigDict(dict(kind="pcfg", preset="tiny", grammar_path="", seed=0))
  c.update(kw)
  return c


@pytest.mark.parametrize("kind, preset", [("pcfg", "tiny"), ("pcfg", "cpu_easy"), ("hmm", "tiny"), ("hmm", "cpu"),
                                          ("lm", "tiny")])
def test_interface(kind, preset):
  lang = make_language(_config(kind=kind, preset=preset))
  assert isinstance(lang.name, str) and lang.vocab_size > 0 and lang.max_length > 0
  s = lang.sample(jax.random.key(0), 9)
  assert s.tokens.shape == (9, lang.max_length) and s.tokens.dtype == np.int32
  assert s.lengths.shape == (9,) and s.lengths.dtype == np.int32
  real = np.arange(lang.max_length) < s.lengths[:, None]
  assert np.all(s.tokens[~real] == -1) and np.all((s.tokens[real] >= 0) & (s.tokens[real] < lang.vocab_size))
  cond = lang.masked_conditionals(s.tokens, s.lengths)
  assert cond.shape == (9, lang.max_length, lang.vocab_size) and cond.dtype == np.float64
  np.testing.assert_allclose(cond.sum(-1), real.astype(float), atol=1e-12)
  r = lang.optimal_loss(200, 1)
  for k in ("optimal_loss", "optimal_loss_se", "optimal_loss_token_weighted", "optimal_loss_token_weighted_se"):
    assert np.isfinite(r[k])
  assert lang.tasks
  for name, task in lang.tasks.items():
    assert task.name == name and task.num_classes >= 1
    if task.dataset is not None:  # external text (GLUE): no labels of sampled sentences
      continue
    for fn in (task.labels, task.bayes_predictions):
      out = fn(s)
      assert out.shape == (9,) and out.dtype == np.int32 and out.min() >= 0 and out.max() < task.num_classes


def test_paper_tasks_exist():
  assert {"A", "B", "C", "A_argmax", "B_argmax", "C_argmax"} <= set(make_language(_config(preset="cpu_easy")).tasks)
  assert set(make_language(_config(kind="hmm", preset="paper")).tasks) == {"state6", "state10"}


def test_released(released_grammar_path):
  with pytest.warns(GrammarWarning):  # A1_9 is unreachable; 4 rows sum to 1 − O(1e−4)
    lang = make_language(_config(preset="released", grammar_path=released_grammar_path))
  assert (lang.vocab_size, lang.max_length) == (200, 16)


@pytest.mark.parametrize("fields, pattern", [
    (dict(kind="rnn"), r"data.kind='rnn'.*\['hmm', 'lm', 'pcfg'\]"),
    (dict(kind="lm", preset="cpu_easy"), r"data.preset='cpu_easy'.*kind='lm'.*'cpu', 'paper', 'tiny'"),
    (dict(checkpoint="/x"), r"data.checkpoint is only meaningful for data.kind='lm'"),
    (dict(preset="huge"), r"data.preset='huge'.*'cpu_easy'.*'released'"),
    (dict(kind="hmm", preset="cpu_easy"), r"data.preset='cpu_easy'.*kind='hmm'.*'cpu'"),
    (dict(preset="file"), r"data.preset='file' needs data.grammar_path"),
    (dict(preset="tiny", grammar_path="/x.txt"), r"set data.preset='file' .* or 'released'"),
])
def test_unknown_values_raise(fields, pattern):
  with pytest.raises(ValueError, match=pattern):
    make_language(_config(**fields))


def test_data_card_job(tmp_path):
  from experiments.configs import data_card  # pylint: disable=g-import-not-at-top
  config = data_card.get_config()
  config.data.preset, config.num_sentences, config.progress = "tiny", 600, False
  card = run_data_card(config, str(tmp_path))
  with open(tmp_path / "data_card.json") as f:
    saved = json.load(f)
  # No temp file left behind (the writer lock's file stays by design: see flatness_jax.rundir.lock; the checksums
  # of the records: flatness_jax.rundir.integrity).
  assert sorted(os.listdir(tmp_path)) == [".checksums.json", ".writer.lock", "data_card.json"]
  for key in ("optimal_loss", "optimal_loss_se", "optimal_loss_token_weighted", "num_sentences", "mean_length",
              "max_length", "config"):
    assert key in saved
  assert saved["num_sentences"] == 600 and saved["config"]["data"]["preset"] == "tiny"
  for task in saved["tasks"].values():
    for key in ("num_classes", "majority_accuracy", "bayes_accuracy", "majority_accuracy_se", "bayes_accuracy_se"):
      assert key in task
    assert task["bayes_accuracy"] >= task["majority_accuracy"] - 4 * task["majority_accuracy_se"]
  assert card["optimal_loss"] == saved["optimal_loss"]


def test_data_card_command_line(tmp_path, released_grammar_path):
  env = dict(os.environ, PYTHONPATH=REPO_ROOT, JAX_PLATFORMS="cpu")
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.main", "--config=configs/data_card.py:released", f"--workdir={tmp_path}",
       f"--config.data.grammar_path={released_grammar_path}", "--config.num_sentences=300",
       "--config.sample_seed=3"],
      cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "optimal loss L*" in proc.stdout and "sentences" in proc.stderr  # the table, and the progress bar
  with open(tmp_path / "data_card.json") as f:
    card = json.load(f)
  assert card["data_config"]["preset"] == "released" and card["max_length"] == 16
  assert card["config"]["sample_seed"] == 3 and card["num_sentences"] == 300
  assert card["data_config"]["grammar_path"] == released_grammar_path
  assert 2 <= card["min_length"] and card["observed_max_length"] <= 16
