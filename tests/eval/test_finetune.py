"""Whole-model fine-tuning: a token-presence task is learnt, random labels stay at chance, runs are deterministic,
bad input is refused by name, and the probes job writes fine-tuning entries next to (not over) the probe entries."""
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from experiments.configs import probes as probes_config
from experiments.configs import tiny
from flatness_jax import models
from flatness_jax.tokens import batching
from flatness_jax.eval import finetune, probe
from flatness_jax.jobs import probes as probes_job
from flatness_jax.rundir import records
from tests.run_dirs import initial_run_dir

V, L, N = 10, 8, 800  # words, sentence length, labelled sentences (560 train / 80 val / 160 test)
SEEDS, EPOCHS, LR = (0, 1, 2), 8, 1e-3  # a randomly initialised encoder needs a larger step than the paper's 1e-4


def _model(dropout=0.0):
  """cpu_tiny (d 32, 1 layer, 2 heads, FFN 128) at V = 10, L = 8, randomly initialised."""
  c = models.default_model_config()
  c.preset, c.dropout = "cpu_tiny", dropout
  m = models.make_model(c, V, L)
  return m, m.init(jax.random.key(0), jnp.zeros((1, L), jnp.int32), jnp.zeros((1,), jnp.int32))["params"]


def _splits(labels_from):
  """Uniform words, lengths 3..8; labels = labels_from(inputs) (43% of sentences contain word 3)."""
  rng = np.random.default_rng(0)
  lengths = rng.integers(3, L + 1, N)
  inputs = np.asarray(batching.model_inputs(rng.integers(0, V, (N, L)), lengths, V))
  labels = labels_from(inputs)
  return [(inputs[i], lengths[i], labels[i]) for i in probe.split_indices(N, seed=0)]


def _has_word_3(inputs):
  return (inputs == 3).any(1).astype(np.int32)


def _random_labels(inputs):
  return np.random.default_rng(1).integers(0, 2, len(inputs))


@pytest.fixture(scope="module")
def tiny_model():
  return _model()


@pytest.fixture(scope="module")
def task_result(tiny_model):
  m, p = tiny_model
  return finetune.finetune(m, p, *_splits(_has_word_3), 2, seeds=SEEDS, epochs=EPOCHS, learning_rate=LR)


def test_token_presence_is_learnt_and_random_labels_stay_at_chance(tiny_model, task_result):
  # Measured: test accuracy 1.0 for every seed (validation 1.0 from epoch 3); random labels 0.49, 0.57, 0.47.
  m, p = tiny_model
  r = task_result
  assert r.test_accuracy.shape == (3,) and r.test_curve.shape == (3, EPOCHS) and r.train_loss.shape == (3, EPOCHS)
  assert r.test_accuracy.min() >= 0.9
  assert r.train_loss[:, -1].max() < 0.5 * r.train_loss[:, 0].min()
  d = r.as_dict()
  assert set(d) == {"accuracy_mean", "accuracy_std", "accuracy_per_seed", "best_epoch", "val_accuracy"}
  e = r.best_epoch - 1
  np.testing.assert_array_equal(r.val_accuracy, r.val_curve.max(1))
  np.testing.assert_array_equal(r.test_accuracy, r.test_curve[np.arange(3), e])
  rand = finetune.finetune(m, p, *_splits(_random_labels), 2, seeds=SEEDS, epochs=EPOCHS, learning_rate=LR)
  # 160 test sentences: chance 0.5 with SE ≈ 0.04 per seed.
  assert abs(rand.mean - 0.5) < 0.1


def test_same_inputs_and_seeds_give_identical_results(tiny_model, task_result):
  m, p = tiny_model
  again = finetune.finetune(m, p, *_splits(_has_word_3), 2, seeds=SEEDS, epochs=EPOCHS, learning_rate=LR)
  np.testing.assert_array_equal(again.test_curve, task_result.test_curve)
  np.testing.assert_array_equal(again.val_curve, task_result.val_curve)
  np.testing.assert_array_equal(again.train_loss, task_result.train_loss)


@pytest.mark.slow  # one more compile (~20 s on 2 busy cores)
def test_dropout_models_train_in_train_mode_deterministically(task_result):
  m, p = _model(dropout=0.1)
  runs = [finetune.finetune(m, p, *_splits(_has_word_3), 2, seeds=SEEDS, epochs=EPOCHS, learning_rate=LR)
          for _ in range(2)]
  np.testing.assert_array_equal(runs[0].train_loss, runs[1].train_loss)
  assert runs[0].test_accuracy.min() >= 0.9
  assert not np.array_equal(runs[0].train_loss, task_result.train_loss)  # same weights, but dropout is on


def test_learning_rate_warms_up_then_decays():
  s = finetune.warmup_linear_decay(1.0, 4, 10)
  lr = np.array([float(s(t)) for t in range(10)])
  np.testing.assert_allclose(lr, [0.25, 0.5, 0.75, 1.0, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6], rtol=1e-6)


def test_bad_input_names_the_problem(tiny_model):
  m, p = tiny_model
  tr, va, te = _splits(_has_word_3)
  run = lambda *splits, **kw: finetune.finetune(m, p, *splits, 2, epochs=1, **kw)
  with pytest.raises(ValueError, match=r"train labels must be in \[0, 2\)"):
    run((tr[0], tr[1], tr[2] + 1), va, te)
  with pytest.raises(ValueError, match="test labels must be in"):
    run(tr, va, (te[0], te[1], -te[2]))
  with pytest.raises(ValueError, match="val split is empty"):
    run(tr, (va[0][:0], va[1][:0], va[2][:0]), te)
  with pytest.raises(ValueError, match="unknown pooling 'max'"):
    run(tr, va, te, pooling="max")
  with pytest.raises(ValueError, match="disagree"):
    run((tr[0], tr[1] - 1, tr[2]), va, te)
  with pytest.raises(ValueError, match="token ids"):
    run((tr[0] + V + 2, tr[1], tr[2]), va, te)
  with pytest.raises(ValueError, match="train split has 560 inputs but 560 lengths and 559 labels"):
    run((tr[0], tr[1], tr[2][1:]), va, te)
  with pytest.raises(ValueError, match="seeds is empty"):
    run(tr, va, te, seeds=())


def _run_dir(path):
  """A run directory of configs/tiny.py holding only the initial parameters (checkpoint 0)."""
  config = tiny.get_config()
  return initial_run_dir(path, config)[0]


def _probes_config(**overrides):
  c = ml_collections.ConfigDict({"probes": probes_config.get_config().probes.to_dict()})
  pc = c.probes
  pc.tasks, pc.num_examples, pc.seeds, pc.epochs, pc.pooling, pc.lookup = "A,B", 200, 2, 2, "mean", False
  pc.finetune, pc.finetune_epochs, pc.finetune_seeds, pc.finetune_examples = True, 2, 2, 100
  pc.finetune_batch_size = 16
  pc.update(overrides)
  return c


def _check_entries(workdir, capsys, seeds):
  saved = json.load(open(f"{workdir}/probes.json"))
  row = saved["steps"]["0"]
  for t in ("A", "B"):
    assert set(row[t]) == {"accuracy_mean", "accuracy_std", "accuracy_per_seed", "best_epoch", "val_accuracy"}
    ft = row["finetune"][t]
    assert set(ft) == set(row[t]) | {"seconds"}
    assert len(ft["accuracy_per_seed"]) == seeds and 0.0 <= ft["accuracy_mean"] <= 1.0 and ft["seconds"] > 0
    assert all(1 <= e <= 2 for e in ft["best_epoch"])
    read = records.Probes.from_json(saved).steps[0]  # the one reader sees probes and fine-tuning
    assert read.accuracy(t).mean == row[t]["accuracy_mean"] and read.finetune_accuracy(t).mean == ft["accuracy_mean"]
  assert sorted(saved["tasks"]) == ["A", "B"]
  assert "step 0 finetune: A " in capsys.readouterr().out


def test_probes_job_passes_its_split_and_settings_to_finetune(tmp_path, capsys, monkeypatch):
  """The job's wiring, with `finetune.finetune` replaced by a recorder (the real thing: the slow test below)."""
  calls = []

  def fake(model, params, train, val, test, num_classes, **kw):
    calls.append(([len(s[2]) for s in (train, val, test)], num_classes, kw))
    for inputs, lengths, _ in (train, val, test):  # what the encoder reads: PAD exactly beyond each length
      np.testing.assert_array_equal(inputs != model.pad_id, np.arange(inputs.shape[1])[None] < lengths[:, None])
    acc = np.array([0.5, 0.75])
    return probe.ProbeResult(test_accuracy=acc, val_accuracy=acc, best_epoch=np.array([1, 2]),
                             test_curve=np.zeros((2, 2)), val_curve=np.zeros((2, 2)), train_loss=np.zeros((2, 2)))

  monkeypatch.setattr(finetune, "finetune", fake)
  workdir = _run_dir(tmp_path / "r")
  with pytest.raises(ValueError, match="finetune_examples must be in"):
    probes_job.run_probes(_probes_config(finetune_examples=201), workdir)
  probes_job.run_probes(_probes_config(finetune_pooling="first"), workdir)
  assert len(calls) == 2  # one checkpoint × tasks A, B
  for sizes, num_classes, kw in calls:
    assert sizes == [70, 10, 20] and num_classes == 2
    assert kw == {"seeds": (0, 1), "epochs": 2, "learning_rate": 1e-4, "batch_size": 16, "pooling": "first"}
  _check_entries(workdir, capsys, seeds=2)
  probes_job.run_probes(_probes_config(finetune=False), workdir)
  assert "finetune" not in json.load(open(f"{workdir}/probes.json"))["steps"]["0"] and len(calls) == 2


@pytest.mark.slow  # compiles fine-tuning for the tiny run's model: ~20 s on 2 busy cores
def test_probes_job_writes_finetune_entries(tmp_path, capsys):
  workdir = _run_dir(tmp_path / "r")
  probes_job.run_probes(_probes_config(), workdir)
  _check_entries(workdir, capsys, seeds=2)
