"""The gates a row passes before a verdict, and the direction a verdict is read in: each at its boundary."""
import math

import pytest
from scipy import stats as sps

from flatness_jax.analysis import claims, family, findings, gates, minima, points, power, replicates, stats
from flatness_jax.rundir import records
from tests.analysis.test_minima import _point


def test_a_correlation_needs_min_clusters_runs_and_min_points_checkpoints():
  g, k = gates.MIN_CLUSTERS, gates.MIN_POINTS
  assert gates.correlation_runs(g, k).ok and gates.correlation_runs(g + 5, k + 40).ok
  assert not gates.correlation_runs(g - 1, 100).ok and not gates.correlation_runs(2, 100).ok
  assert not gates.correlation_runs(g, k - 1).ok
  assert "5 runs, 100 checkpoints" in gates.correlation_runs(5, 100).text


def test_min_clusters_is_the_fewest_runs_whose_bootstrap_serves_every_declared_row():
  """G runs give C(2G − 1, G) distinct cluster draws; a row at level α/m needs m/α of them. For 23 rows at α = 5%
  (gates.py: more rows than any experiment declares), G = MIN_CLUSTERS is the smallest G with enough."""
  need = 23 / 0.05
  assert math.comb(2 * gates.MIN_CLUSTERS - 1, gates.MIN_CLUSTERS) >= need
  assert math.comb(2 * gates.MIN_CLUSTERS - 3, gates.MIN_CLUSTERS - 1) < need


@pytest.mark.parametrize("inside", [True, False])
def test_equal_loss_is_two_one_sided_tests_at_5_percent(inside):
  """The 90% t interval of Δgap inside ±margin passes; the gate's interval is the 90% one, not the 95% one."""
  margin, df = 0.005, 6
  q90, q95 = sps.t.ppf(0.95, df), sps.t.ppf(0.975, df)
  se = margin / (q90 + q95) * 2 if inside else margin / q90 * 1.02  # 90% half-width: inside, or just outside
  gate = gates.equal_loss(stats.TTest(0.0, se, df), margin)
  assert gate.ok == inside and gate.name == "equal loss"
  assert q95 * se > margin or not inside  # a 95% interval would leave the margin: the level matters
  assert not gates.equal_loss(stats.TTest(0.0, float("nan"), df), margin).ok
  assert not gates.equal_loss(None, margin).ok


def test_a_point_is_converged_up_to_the_saturation_gap_and_only_at_a_minimum():
  p = _point(10.0, 1.0, ritz=2.0)  # gap 1% of L*, at a minimum
  assert gates.converged(p, 0.01) and gates.converged(p, 0.03)
  assert not gates.converged(p, 0.0099)
  assert not gates.converged(_point(-3.0, 1.0), 0.03)


# The paper's direction of each claim (Liu et al. 2023; the reviewers' two-sided question has none).
PAPER_SIGN = {"continued": +1, "size": +1, "algorithm": -1, "flatter": -1, "flatness_beyond_size": -1,
              "downstream_flatness": 0, "drift": -1}


@pytest.mark.parametrize("claim", sorted(claims.CLAIMS))
def test_a_significant_row_reads_reproduced_only_in_the_papers_direction(claim):
  sign = PAPER_SIGN[claim]
  def verdict(estimate):
    c = claims.CLAIMS[claim]
    d = family.Draft(claim=claim, title=c.title, language="pcfg", unit=c.unit, expected=c.expected,
                     confirmatory=True, test=stats.TTest(estimate, 0.1, 10), estimate=estimate)
    (row,) = family.finalize([d])
    return row.verdict
  if sign == 0:
    assert verdict(1.0) == verdict(-1.0) == records.DIFFERS
  else:
    assert verdict(sign * 1.0) == records.REPRODUCED and verdict(-sign * 1.0) == records.OPPOSITE
  assert verdict(0.01) == records.NOT_SIGNIFICANT


def test_a_row_whose_p_value_underflows_to_zero_keeps_its_holm_level_and_interval():
  """p = 0 (an overwhelming effect): Holm's adjusted p is 0 too, and the row's level is 1 − α/m, not 0/0."""
  rows = family.finalize([
      family.Draft(claim="size", title="t", language="pcfg", unit="pts", expected=1, confirmatory=True,
                   test=stats.TTest(1.0, 1e-300, 10), estimate=1.0),
      family.Draft(claim="continued", title="t", language="pcfg", unit="pts", expected=1, confirmatory=True,
                   test=stats.TTest(0.1, 0.1, 10), estimate=0.1)])
  assert rows[0].p_value == 0.0 and rows[0].level == pytest.approx(1 - 0.05 / 2)
  assert rows[0].low == pytest.approx(1.0) and rows[0].high == pytest.approx(1.0)
  assert rows[0].verdict == records.REPRODUCED


def _arm(name, algorithm, optimizer, tracks=""):
  config = {"train": {"algorithm": algorithm}, "optimizer": {"name": optimizer},
            "adversarial": {"match_gap_of": tracks}}
  p = points.Point(run=f"{name}/seed_0", step=600, num_params=10, eval=records.Evaluation.from_json({"step": 600}),
                   curvature=records.Curvature(step=600), probes=records.CheckpointProbes(600), arm=name,
                   config=config)
  return replicates.Arm(name, [p.run], [p])


def test_the_reference_arm_is_the_tracked_one_else_the_one_standard_adamw_arm():
  sgd, adamw, adv = _arm("a_sgd", "standard", "sgd"), _arm("b_adamw", "standard", "adamw"), _arm(
      "c_adv", "adversarial", "adamw")
  assert findings.reference_arm([sgd, adamw, adv]).name == "b_adamw"  # not the adversarial arm, not SGD
  tracking = _arm("c_adv", "adversarial", "adamw", tracks="a_sgd")
  assert findings.reference_arm([sgd, adamw, tracking]).name == "a_sgd"
  assert findings.reference_arm([_arm("z", "standard", "adamw"), _arm("y", "standard", "adamw")]).name == "y"


def test_a_zero_trace_is_reported_as_unresolved_not_as_negative():
  """Tr(H) = 0 ± 1 is not shown below zero: the evidence printed must be true of the number."""
  assert minima.negative_curvature(_point(0.0, 1.0)) == "m/seed_0 step 600: Tr(H) 0 ± 1 not resolved from 0"
  assert minima.negative_curvature(_point(-1e-9, 1.0)) == "m/seed_0 step 600: Tr(H) -1e-09 < 0"
  assert minima.not_at_minimum([_point(10.0, 1.0, ritz=2.0)]) == ""  # a str either way: '' when all are at one


class _ExactP(stats.TTest):
  p_value = 0.05  # exactly the family's level


def test_holm_calls_p_equal_to_alpha_significant_and_sizes_runs_at_alpha_over_m():
  """p̃ ≤ α is significant (p̃ = α exactly included); the runs an effect would need are at the per-row level α/m."""
  def draft(test, claim):
    return family.Draft(claim=claim, title="t", language="pcfg", unit="pts", expected=1, confirmatory=True,
                        test=test, estimate=test.estimate, sd=2.0, paper_effect=3.0)
  (row,) = family.finalize([draft(_ExactP(1.0, 0.4, 10), "size")])
  assert row.p_adjusted == 0.05 and row.verdict == records.REPRODUCED
  rows = family.finalize([draft(stats.TTest(1.0, 0.4, 10), "size"), draft(stats.TTest(0.5, 0.4, 10), "continued")])
  assert [r.runs_needed for r in rows] == [power.runs_needed(2.0, 3.0, 0.05 / 2)] * 2


class _Interval(stats.TTest):
  def interval(self, level=0.95):
    return self.estimate - self.se, self.estimate + self.se  # a fixed interval, whatever the level


def test_equal_loss_needs_the_interval_strictly_inside_the_margin():
  assert gates.equal_loss(_Interval(0.0, 0.0049, 5), 0.005).ok
  assert not gates.equal_loss(_Interval(0.0, 0.005, 5), 0.005).ok  # touching ±margin is not inside
  assert not gates.equal_loss(_Interval(0.001, 0.004, 5), 0.005).ok
  assert not gates.equal_loss(_Interval(-0.001, 0.004, 5), 0.005).ok


def test_the_runs_gate_needs_two_runs_a_side_and_an_interval():
  assert gates.runs(None) == gates.Gate("runs", False, "too few runs: nothing measured")
  ok = replicates.compare_values([0.8, 0.82, 0.81], [0.7, 0.72])
  assert gates.runs(ok) == gates.Gate("runs", True, "3 vs 2 runs")
  assert not gates.runs(replicates.compare_values([0.8], [0.7, 0.72], single=(0.1, 0.0, 0.2))).ok
  flat = replicates.compare_values([0.8, 0.8], [0.7, 0.7])
  assert gates.runs(flat) == gates.Gate("runs", False, "no interval (2 vs 2 runs without spread)")


def test_a_lower_bound_of_exactly_zero_is_not_resolved_from_zero():
  t = stats.t_quantile(31)
  assert "not resolved from 0" in minima.negative_curvature(_point(t * 1.0, 1.0))
