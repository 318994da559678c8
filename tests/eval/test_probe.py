"""Linear probes: separable features → ~100%, random labels → ~chance; selection by validation."""
import numpy as np

from flatness_jax.eval import probe


def _data(n, dim, classes, seed, separable=True):
  rng = np.random.default_rng(seed)
  y = rng.integers(0, classes, n)
  centers = rng.normal(size=(classes, dim)) * 3.0
  x = centers[y] + rng.normal(size=(n, dim)) if separable else rng.normal(size=(n, dim))
  return x.astype(np.float32), y


def test_separable_features_reach_full_accuracy():
  x, y = _data(1500, 20, 4, 0)
  tr, va, te = probe.split_indices(len(y), seed=0)
  r = probe.train_linear_probe((x[tr], y[tr]), (x[va], y[va]), (x[te], y[te]), 4, seeds=(0, 1, 2),
                               epochs=30, learning_rate=1e-2)
  assert r.test_accuracy.min() > 0.98
  assert r.test_accuracy.shape == (3,) and r.test_curve.shape == (3, 30)


def test_random_labels_stay_near_chance():
  x, _ = _data(1500, 20, 4, 1)
  y = np.random.default_rng(5).integers(0, 4, len(x))
  tr, va, te = probe.split_indices(len(y), seed=0)
  r = probe.train_linear_probe((x[tr], y[tr]), (x[va], y[va]), (x[te], y[te]), 4, seeds=(0, 1),
                               epochs=20, learning_rate=1e-2)
  # 300 test points: chance 0.25 with SE ≈ 0.025.
  assert abs(r.mean - 0.25) < 0.1


def test_selected_epoch_is_the_best_validation_epoch():
  x, y = _data(600, 10, 3, 2)
  tr, va, te = probe.split_indices(len(y), seed=1)
  r = probe.train_linear_probe((x[tr], y[tr]), (x[va], y[va]), (x[te], y[te]), 3, seeds=(0,), epochs=10)
  e = int(r.best_epoch[0]) - 1
  assert r.val_curve[0, e] == r.val_curve[0].max()
  assert r.test_accuracy[0] == r.test_curve[0, e]
