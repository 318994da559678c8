"""The steps-to-the-saturation-gap account: the settled step against its definition by brute force, the shares of
steps and run-time past it by hand, and the committed tier's table against its records."""
import math
import os
from types import SimpleNamespace

import numpy as np

from flatness_jax.analysis import steps_account
from flatness_jax.jobs import results as results_job
from flatness_jax.rundir import compact
from tests.conftest import REPO_ROOT


def _run(arm, gaps, steps, wall, every=100):
  evaluations = {i * every: SimpleNamespace(gap_relative=g) for i, g in enumerate(gaps)}
  summary = SimpleNamespace(steps=steps, wall_seconds=wall, final_gap_relative=gaps[-1])
  return SimpleNamespace(arm=arm, evaluations=evaluations, summary=summary)


def _brute_settled(gaps, gate, every=100):
  """The smallest evaluated step s such that every evaluation at or after s is within the gate (None: none is)."""
  for i in range(len(gaps)):
    if all(math.isfinite(g) and g <= gate for g in gaps[i:]):
      return i * every
  return None


def test_settled_step_is_the_first_step_from_which_every_evaluation_is_within_the_gate():
  rng = np.random.default_rng(0)
  for _ in range(500):
    gaps = list(rng.uniform(0.0, 0.06, size=rng.integers(1, 12)))
    if rng.random() < 0.2:
      gaps[rng.integers(len(gaps))] = float("nan")  # a failed evaluation never counts as within
    evaluations = {i * 100: SimpleNamespace(gap_relative=g) for i, g in enumerate(gaps)}
    # given out of order: the step, not the insertion order, decides
    shuffled = dict(sorted(evaluations.items(), key=lambda kv: rng.random()))
    assert steps_account.settled_step(shuffled, 0.03) == _brute_settled(gaps, 0.03)
  assert steps_account.settled_step({}, 0.03) is None


def test_a_dip_inside_the_gate_followed_by_a_rise_does_not_count():
  gaps = [0.2, 0.02, 0.04, 0.029, 0.025]  # inside at 100, out at 200, inside from 300 on
  assert steps_account.settled_step(_run("a", gaps, 400, 1.0).evaluations, 0.03) == 300


def test_table_gives_each_arms_seeds_and_the_run_time_past_the_gate():
  runs = [_run("s", [0.5, 0.1, 0.02, 0.01, 0.01], 400, 100.0),   # settled at 200: half its steps past
          _run("s", [0.5, 0.1, 0.05, 0.02, 0.01], 400, 300.0),   # settled at 300: a quarter past
          _run("xs", [0.5, 0.2, 0.1, 0.05, 0.04], 400, 200.0)]   # never settles
  lines = steps_account.table([("model_size", "pcfg", 0.03, runs)])
  # one step count for both seeds of s: the slower one's 300, a quarter of 400 steps of 400 run-seconds = 100 s
  assert lines[2] == ("| model_size | pcfg | s | 3.0% | 400 | 200, 300 | 1.00, 1.00 | 38% | "
                      "300 (-100 steps, 1.7 run-min) |")
  assert lines[3] == "| model_size | pcfg | xs | 3.0% | 400 | — | 4.00 | 0% | — |"
  # run-time past: 100 s × 1/2 + 300 s × 1/4 = 125 s of 600 s
  assert lines[-1].startswith("Training run-time past the gate: 2.1 of 10.0 run-minutes (21%)")


def test_a_recipe_stops_an_arm_no_earlier_than_its_slowest_seed():
  rng = np.random.default_rng(1)
  for _ in range(300):
    group = [_run("a", list(rng.uniform(0.0, 0.05, size=8)), 700, 1.0) for _ in range(int(rng.integers(1, 5)))]
    brute = [_brute_settled([r.evaluations[s].gap_relative for s in sorted(r.evaluations)], 0.03) for r in group]
    want = None if None in brute else max(brute)
    assert steps_account.recipe_step(group, 0.03) == want
    if want is not None:  # every seed is within the gate from there on
      assert all(r.evaluations[s].gap_relative <= 0.03 for r in group for s in r.evaluations if s >= want)
  assert steps_account.recipe_step([], 0.03) is None


def test_the_recipe_bound_in_tier_minutes_uses_each_cells_overlap_and_spares_continued():
  s = [_run("s", [0.5, 0.1, 0.02, 0.01, 0.01], 400, 100.0),    # settled at 200
       _run("s", [0.5, 0.1, 0.05, 0.02, 0.01], 400, 300.0)]    # settled at 300: the arm stops at 300
  m = [_run("m", [0.5, 0.02, 0.02, 0.02, 0.02], 400, 200.0)]   # settled at 100: 3/4 of its steps
  c = [_run("c", [0.5, 0.02, 0.02, 0.02, 0.02], 400, 600.0)]   # continued: never cut
  lines = steps_account.table([("model_size", "pcfg", 0.03, s + m, 300.0),   # 600 run-s trained in 300 s
                               ("continued", "pcfg", 0.03, c, 600.0)])
  assert lines[-5].endswith("| — (training past the gap is the claim) |")
  # saved run-seconds: s 100·1/4 + 300·1/4 = 100, m 200·3/4 = 150; cell minutes at overlap 300/600: 125 s
  assert lines[-1].startswith("Every arm stopped at its slowest seed's settled step (but `continued`, and arms with a "
                              "seed never within the gate): 4.2 run-minutes fewer; at each cell's measured overlap, "
                              "2.1 of the tier's 15.0 training minutes")
  # without the cells' training minutes (records from before the account) the tier line is left out
  assert not steps_account.table([("model_size", "pcfg", 0.03, s)])[-1].startswith("Every arm")


def test_the_committed_tiers_steps_account_matches_its_records():
  """Each row of results/<tier>/steps.md read back against the compact records it was written from."""
  root = os.path.join(REPO_ROOT, "results")
  for tier in results_job.tiers_of(root):
    text = open(os.path.join(root, tier, results_job.STEPS_MD)).read()
    for exp, lang, doc in results_job._cells(os.path.join(root, tier)):  # pylint: disable=protected-access
      runs = [compact.read(os.path.join(root, tier, exp, lang, results_job.RUNS, compact.file_name(n)))
              for n in doc["runs"]]
      gate = results_job._settings(doc).saturated_gap  # pylint: disable=protected-access
      for arm in dict.fromkeys(r.arm for r in runs):
        settled = [steps_account.settled_step(r.evaluations, gate) for r in runs if r.arm == arm]
        cell = ", ".join("—" if s is None else str(s) for s in settled)
        (row,) = [line for line in text.splitlines() if line.startswith(f"| {exp} | {lang} | {arm} | {gate:.1%} |")]
        assert row.split(" | ")[5] == cell, (tier, exp, lang, arm, row)
        bound = None if exp in steps_account.BY_DESIGN or None in settled else max(settled)
        want = "—" if bound is None else str(bound)
        assert row.split(" | ")[8].split(" ")[0] == want, (tier, exp, lang, arm, row)
