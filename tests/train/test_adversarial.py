"""Adversarial pre-training at equal loss: λ follows the reference run's held-out gap, and a resume replays it."""
import json
import os

import pytest

from experiments.configs import algorithms
from flatness_jax.train import adversarial, config_checks


def _reference(tmp_path, gaps):
  d = tmp_path / "adamw"
  d.mkdir()
  with open(d / "metrics.jsonl", "w") as f:
    for s, g in gaps.items():
      f.write(json.dumps({"step": s, "gap_relative": g}) + "\n")
      f.write(json.dumps({"step": s + 1, "train_loss": 1.0}) + "\n")  # training rows carry no gap
  return str(d)


def test_lambda_rises_while_within_tolerance_and_falls_above_it(tmp_path):
  ref = _reference(tmp_path, {0: 0.50, 200: 0.10, 400: 0.05})
  c = adversarial.LambdaControl(ref, initial=0.1, tolerance=0.01, factor=2.0, maximum=0.3)
  assert c.update(0, 0.505) == pytest.approx(0.2)     # within 0.50 + 0.01: up
  assert c.update(200, 0.12) == pytest.approx(0.1)    # above 0.10 + 0.01: down
  assert c.update(300, 0.105) == pytest.approx(0.2)   # step 300: the reference's last evaluation ≤ 300 is step 200
  assert c.update(400, 0.0) == pytest.approx(0.3)     # capped at the maximum
  assert c.update(600, float("nan")) == pytest.approx(0.3)  # nothing measured: unchanged
  assert c.reference_gap(-1) is None


def test_lambda_waits_for_the_start_step(tmp_path):
  ref = _reference(tmp_path, {0: 0.50, 200: 0.10, 400: 0.05})
  c = adversarial.LambdaControl(ref, 0.1, 0.01, 2.0, 10.0, start_step=400)
  assert c.update(0, 0.40) == pytest.approx(0.1)   # before the start: no adaptation
  assert c.update(200, 0.5) == pytest.approx(0.1)
  assert c.update(400, 0.04) == pytest.approx(0.2)  # from the start on: as without one
  # A resume replays it: rows up to the start record the λ the steps used (0), not the controller's.
  rows = [{"step": 0, "gap_relative": 0.4, "adversarial_lambda": 0.1},
          {"step": 200, "gap_relative": 0.5, "adversarial_lambda": 0.0},
          {"step": 400, "gap_relative": 0.04, "adversarial_lambda": 0.0}]
  resumed = adversarial.LambdaControl(ref, 0.1, 0.01, 2.0, 10.0, start_step=400)
  assert resumed.replay(rows, 400) == pytest.approx(0.2)


def test_start_step_is_an_event_and_out_of_range_is_named():
  from flatness_jax.train import arms, schedule  # pylint: disable=g-import-not-at-top
  sub = arms.run_configs(algorithms.get_config("hmm,adversarial"))["adversarial/seed_0"]
  assert sub.adversarial.start_step == 600  # the HMM's plateau: the adversary switches on after AdamW leaves it
  assert 600 in schedule.event_steps(sub)
  assert all(a >= 600 or b <= 600 for a, b in schedule.chunk_bounds(sub, 0))  # no chunk straddles it
  sub.adversarial.start_step = sub.train.num_steps
  with pytest.raises(ValueError, match="adversarial.start_step"):
    config_checks.validate_train_config(sub)
  with sub.unlocked():
    del sub.adversarial["start_step"]
    sub.adversarial.start_step = 60.5  # not a step: named, not a TypeError deep in the schedule
  with pytest.raises(ValueError, match="adversarial.start_step=60.5 must be an integer step"):
    config_checks.validate_train_config(sub)


def test_released_adversarial_starts_after_the_early_phase():
  from flatness_jax.train import arms  # pylint: disable=g-import-not-at-top
  subs = arms.run_configs(algorithms.get_config("released,adversarial"))
  assert subs["adversarial/seed_0"].adversarial.start_step == 600
  assert subs["adamw/seed_0"].train.algorithm == "standard"


def test_replay_after_a_resume_gives_the_same_lambda(tmp_path):
  ref = _reference(tmp_path, {0: 0.50, 200: 0.10, 400: 0.05})
  live = adversarial.LambdaControl(ref, 0.1, 0.01, 2.0, 10.0)
  rows = []
  for step, gap in ((0, 0.49), (200, 0.2), (400, 0.04)):
    rows.append({"step": step, "gap_relative": gap, "adversarial_lambda": live.lam})
    rows.append({"step": step + 100, "train_loss": 1.0, "adversarial_lambda": live.update(step, gap)})
  resumed = adversarial.LambdaControl(ref, 0.1, 0.01, 2.0, 10.0)
  assert resumed.replay(rows, 400) == pytest.approx(live.lam)
  partial = adversarial.LambdaControl(ref, 0.1, 0.01, 2.0, 10.0)
  assert partial.replay(rows, 200) == pytest.approx(0.1)  # 0.1 → 0.2 at step 0 → 0.1 at step 200


def test_missing_reference_is_named(tmp_path):
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match="has no held-out evaluations; train the reference arm first"):
    adversarial.LambdaControl(str(tmp_path / "empty"), 0.1, 0.01, 2.0, 10.0)


@pytest.mark.parametrize("field,value,pattern", [("gap_tolerance", -0.1, "gap_tolerance"),
                                                 ("lambda_factor", 1.0, "lambda_factor"),
                                                 ("lambda_max", 0.01, "lambda_max")])
def test_bad_control_settings_are_named(field, value, pattern):
  c = algorithms.get_config("adversarial")
  from flatness_jax.train import arms  # pylint: disable=g-import-not-at-top
  sub = arms.run_configs(c)["adversarial/seed_0"]
  sub.adversarial[field] = value
  with pytest.raises(ValueError, match=pattern):
    config_checks.validate_train_config(sub)


def test_adversarial_arm_tracks_the_adamw_arm_of_its_seed():
  c = algorithms.get_config("hmm,adversarial")
  from flatness_jax.train import arms  # pylint: disable=g-import-not-at-top
  subs = arms.run_configs(c)
  names = list(subs)
  assert names.index("adamw/seed_2") < names.index("adversarial/seed_2")  # the reference trains first
  sub = subs["adversarial/seed_2"]
  assert sub.adversarial.match_gap_of == "adamw" and sub.adversarial.task == "state10" and sub.replicate == 2
  from flatness_jax.rundir import layout  # pylint: disable=g-import-not-at-top
  assert layout.sibling_dir("/x/algorithms_hmm/adversarial/seed_2", sub, "adamw") == os.path.join(
      "/x/algorithms_hmm/adamw/seed_2")
