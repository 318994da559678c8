"""The full η × B sweep of configs/theory_drift.py (slow tier: 20–30 s on 2 loaded cores): Theorem 4.3's ratio → 1
as η → 0 for every B, and the distance to Γ is O(√η) at the predicted level."""
import numpy as np
import pytest

from flatness_jax.theory import sweep


@pytest.fixture(scope="module")
def result():
  return sweep.run_sweep(sweep.Settings())


@pytest.mark.slow
@pytest.mark.parametrize("key", ["ratio", "ratio_on_gamma"])
def test_ratio_tends_to_one_for_every_batch_size(result, key):
  rates = sorted(result["settings"]["learning_rates"])
  for b in result["settings"]["batch_sizes"]:
    ext = result["extrapolated"][key][str(b)]
    assert abs(ext["intercept"] - 1) < max(2.5 * ext["se"], 0.01), (b, ext)
    cells = {c["learning_rate"]: c[key] for c in result["cells"] if c["batch_size"] == b}
    assert abs(cells[rates[0]]["ratio"] - 1) < abs(cells[rates[-1]]["ratio"] - 1)
    assert cells[rates[0]]["ci95"][1] - cells[rates[0]]["ci95"][0] < 0.1


@pytest.mark.slow
def test_ratio_on_gamma_at_the_smallest_lr_is_within_one_percent(result):
  eta = min(result["settings"]["learning_rates"])
  for c in result["cells"]:
    if c["learning_rate"] == eta:
      assert abs(c["ratio_on_gamma"]["ratio"] - 1) < 0.01, c["batch_size"]


@pytest.mark.slow
def test_distance_to_gamma_is_order_sqrt_lr_at_the_predicted_level(result):
  for b in result["settings"]["batch_sizes"]:
    cells = [c for c in result["cells"] if c["batch_size"] == b]
    scaled = np.array([c["distance_over_sqrt_lr"] for c in cells])
    assert np.ptp(scaled) < 0.3 * scaled.mean()
    for c in cells:
      assert 0.9 < c["distance_rms"] / c["distance_predicted"] < 1.25, (c["learning_rate"], b)
