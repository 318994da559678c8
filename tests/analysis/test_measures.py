"""The report's comparison of flatness measures (flatness_jax.analysis.measures): the weighted partial correlation
equals the partial correlation of the repeated sample; on simulated records a planted measure (one that carries
accuracy beyond loss and size) ranks above measures that restate loss and size or are noise, and the intervals
cover the true partial correlations; records without sharpness measures still build a report."""
import dataclasses
import json

import numpy as np
import pytest

from flatness_jax.analysis import claims, family, measures, points, report_markdown, rows as rows_lib, stats
from flatness_jax.rundir import jsonio, reader, records

OPTIMAL = 1.67
PLANTED = "adaptive_average"
# The planted measure is 5 + 2·large + 30·gap − 20·u + 0.1·ξ, where u (var U) is the part of the accuracy that loss
# and size do not explain: its partial correlation with accuracy given gap and size is −20√U / √(400U + 0.01).
U = 0.01 ** 2 + 0.004 ** 2
TRUE_PLANTED = -20 * np.sqrt(U) / np.sqrt(400 * U + 0.1 ** 2)


def _estimate(value, se=0.5):
  return records.Estimate(float(value), se, dof=31)


def simulated_runs(rng, runs_per_size=4, checkpoints=4, with_measures=True):
  """RunRecords of two sizes; accuracy depends on loss and size, and on a run/checkpoint part u that only the
  planted measure sees; Tr(H) restates loss and size, the other measures are noise (module docstring)."""
  out = []
  for size, num_params in enumerate((200_000, 800_000)):
    for k in range(runs_per_size):
      name, run_effect = f"m{size}/seed_{k}", 0.01 * rng.standard_normal()
      evaluations, curvature, probes = {}, {}, {}
      for step in range(1000, 1000 * (checkpoints + 1), 1000):
        gap = 0.01 + 0.002 * rng.standard_normal()
        u = run_effect + 0.004 * rng.standard_normal()
        acc = 0.8 + 0.03 * size - 2.0 * (gap - 0.01) + u
        evaluations[step] = records.Evaluation(step, OPTIMAL * (1 + gap), 0.003, OPTIMAL, 0.0, gap * OPTIMAL,
                                               0.003, gap, 0.002)
        noise = lambda scale=1.0: scale * rng.standard_normal()  # pylint: disable=cell-var-from-loop
        trace = 100 - 20 * size + 2000 * (gap - 0.01) + noise(3.0)
        sharp = {}
        if with_measures:
          sharp = {PLANTED: _estimate(5 + 2 * size + 30 * gap - 20 * u + noise(0.1), 0.05),
                   "average": _estimate(0.5 + noise(0.05), 0.05), "fisher_rao": _estimate(40 + 10 * size + noise()),
                   "adaptive_worst": records.Estimate(2 + noise(0.2), cost=11, unit="gradients", converged=True)}
        curvature[step] = records.Curvature(
            step=step, loss=OPTIMAL * (1 + gap), hessian={records.HUTCHINSON: _estimate(trace, 3.0)},
            fisher=_estimate(trace + noise(3.0), 3.0), lambda_max=records.Eigenvalue(10 + noise()),
            embedded=_estimate(0.6 * trace + noise(2.0), 2.0), embedded_into="m1", measures=sharp,
            measure_rho={n: 0.1 for n in sharp if n != "fisher_rao"})
        per_seed = acc + 0.001 * rng.standard_normal(3)
        per_seed += acc - per_seed.mean()  # the recorded mean is the simulated accuracy
        probes[step] = records.CheckpointProbes(step, {"A": records.ProbeAccuracy(acc, 0.001, tuple(per_seed))})
      config = {"data": {"kind": "pcfg"}, "report": {"claims": "", "primary_task": "A"}}
      out.append(reader.RunRecord(
          workdir=name, name=name, arm=f"m{size}", seed=100 * size + k, replicate=k, config=config,
          summary=records.Summary(num_params, 4000, "cpu_easy", evaluations[max(evaluations)]),
          evaluations=evaluations, curvature=curvature,
          probes=records.Probes(tasks={"A": records.TaskReference(0.25, 0.97, 4, 400)}, steps=probes), pairs=None))
  return out


def _report(runs, num_boot=200):
  return report_markdown.build(runs, report_markdown.Settings(num_boot=num_boot), figures=False)


def _measure_rows(report) -> dict:
  return {r.claim[len(measures.CLAIM_PREFIX):]: r for r in report.rows if r.claim.startswith(measures.CLAIM_PREFIX)}


def _rows_only(runs, num_boot=200) -> dict:
  """The measure rows of a report without the rest of it (what report_markdown.build adds to its rows)."""
  settings = claims.Settings(num_boot=num_boot)
  pts = [p for r in runs for p in points.points_of(r)]
  rows = family.finalize(measures.drafts(pts, runs, claims.declare(settings, runs), settings))
  return {r.claim[len(measures.CLAIM_PREFIX):]: r for r in rows}


def test_weighted_partial_is_the_partial_correlation_of_the_repeated_sample():
  rng = np.random.default_rng(0)
  n = 12
  x, y = rng.standard_normal(n), rng.standard_normal(n)
  z = np.stack([rng.standard_normal(n), np.repeat([12.0, 13.5], n // 2)], axis=-1)
  w = rng.integers(0, 4, (6, n)).astype(float)
  got = measures.weighted_partial_given(x, y, z, w)
  for b in range(len(w)):
    idx = np.repeat(np.arange(n), w[b].astype(int))
    np.testing.assert_allclose(got[b], stats.partial_correlation(x[idx], y[idx], z[idx]), rtol=1e-10)
  # A constant covariate (one model size) is dropped: the partial correlation given the other one alone.
  constant = np.stack([z[:, 0], np.full(n, 12.0)], axis=-1)
  np.testing.assert_allclose(measures.weighted_partial_given(x, y, constant, np.ones(n)),
                             stats.partial_correlation(x, y, z[:, 0]), rtol=1e-10)
  # Four points and two covariates: the residuals span one dimension and |r| = 1 says nothing: no estimate.
  four, five = slice(4, 8), slice(4, 9)  # both covariates vary over these points
  assert np.isnan(measures.weighted_partial_given(x[four], y[four], z[four], np.ones(4)))
  assert np.isfinite(measures.weighted_partial_given(x[five], y[five], z[five], np.ones(5)))


def test_the_section_ranks_the_planted_measure_first():
  report = _report(simulated_runs(np.random.default_rng(1)))
  rows = _measure_rows(report)
  assert set(rows) == {records.HUTCHINSON, records.EMBEDDED, measures.LAMBDA_MAX, records.FISHER, PLANTED,
                       "average", "fisher_rao", "adaptive_worst"}
  assert all(not r.confirmatory and r.verdict == "" and r.level == 0.95 for r in rows.values())
  section = report.text.split(f"## {measures.SECTION}")[1].split("\n## ")[0]
  table = [l for l in section.splitlines() if l.startswith("| ") and not l.startswith("| rank")]
  assert "adaptive average-case" in table[0], section
  assert rows[PLANTED].high < 0  # resolved from zero, in the direction planted
  for name, r in rows.items():
    if name != PLANTED:
      assert abs(r.estimate) < abs(rows[PLANTED].estimate), (name, r.estimate)
  assert "worst-case ρ-sharpness" in section and "Not compared" in section  # the plain worst-case one is absent
  assert not any(w in section for w in ("reproduced", "opposite", "not significant"))  # exploratory: no verdicts


def test_the_rows_travel_in_findings_json():
  found = _report(simulated_runs(np.random.default_rng(2))).findings
  back = rows_lib.Findings.from_json(json.loads(json.dumps(found.to_json())))
  mine = lambda f: [json.dumps(r.to_json()) for r in f.rows if r.claim.startswith(measures.CLAIM_PREFIX)]
  assert mine(back) == mine(found) and len(mine(found)) == 8


def _coverage(sims, seed):
  rng = np.random.default_rng(seed)
  truth = {PLANTED: TRUE_PLANTED, records.HUTCHINSON: 0.0, "average": 0.0, "fisher_rao": 0.0}
  covered = dict.fromkeys(truth, 0)
  for _ in range(sims):
    rows = _rows_only(simulated_runs(rng))
    for name, value in truth.items():
      covered[name] += rows[name].low <= value <= rows[name].high
  return {name: c / sims for name, c in covered.items()}


def test_intervals_cover_the_true_partial_correlations():
  # 95% intervals over 8 runs: a rate below 0.8 in 40 simulated experiments would be a 4-sigma miss.
  rates = _coverage(40, seed=3)
  assert all(r >= 0.8 for r in rates.values()), rates


@pytest.mark.slow
def test_coverage_with_many_experiments():
  sims = 400
  rates = _coverage(sims, seed=13)
  assert all(r >= 0.95 - 3 * np.sqrt(0.05 * 0.95 / sims) for r in rates.values()), rates


def test_old_records_without_measures_still_build_a_report():
  runs = simulated_runs(np.random.default_rng(4), with_measures=False)
  old = [dataclasses.replace(r, curvature={s: records.Curvature.from_json(s, {
      k: v for k, v in c.to_json().items() if k != "sharpness"}) for s, c in r.curvature.items()}) for r in runs]
  assert all(not c.measures and not c.measure_rho for r in old for c in r.curvature.values())
  report = _report(old)
  rows = _measure_rows(report)
  assert set(rows) == {records.HUTCHINSON, records.EMBEDDED, measures.LAMBDA_MAX, records.FISHER}
  assert "Not compared" in report.text and "Fisher–Rao" in report.text.split(f"## {measures.SECTION}")[1]


def test_measures_at_different_radii_are_not_pooled():
  runs = simulated_runs(np.random.default_rng(5))
  first = runs[0]
  changed = {s: dataclasses.replace(c, measure_rho={**c.measure_rho, PLANTED: 0.2}) for s, c in first.curvature.items()}
  runs[0] = dataclasses.replace(first, curvature=changed)
  row = _measure_rows(_report(runs))[PLANTED]
  assert "measured at ρ = 0.1, 0.2" in row.note


@pytest.mark.parametrize("doc", [{}, {"sharpness": {"average": {"value": 0.5, "stderr": 0.1, "samples": 33,
                                                                  "rho": 0.01}}}])
def test_curvature_record_round_trip(doc):
  c = records.Curvature.from_json(3, {"loss": 1.7, **doc})
  back = records.Curvature.from_json(3, json.loads(json.dumps(jsonio.jsonable(c.to_json()))))
  assert json.dumps(jsonio.jsonable(back.to_json())) == json.dumps(jsonio.jsonable(c.to_json()))
  assert back.measure_rho == c.measure_rho
  if doc:
    assert c.measure_rho == {"average": 0.01} and c.estimate("average").value == 0.5
