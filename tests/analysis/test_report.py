"""Report generation from a fixture of run directories written by hand (no training needed)."""
import json
import os
import zlib

import numpy as np
import pytest

from flatness_jax.analysis import isoloss, points, report_markdown, rows
from flatness_jax.jobs.report import write_report
from flatness_jax.rundir import layout, pair_losses, reader


def _write_run(root, arm, num_params, steps, traces, accs, losses, optimal=1.0, se=0.002, seed=None,
               probe_sd=0.005, pair_noise=None, own_seed=None, language="tiny"):
  """One run directory: `root/arm` (seed None) or `root/arm/seed_<seed>` with config.arm / replicate recorded
  (its pre-training seed: `own_seed`, else the replicate's number)."""
  d = os.path.join(root, arm) if seed is None else os.path.join(root, arm, f"seed_{seed}")
  os.makedirs(os.path.join(d, "checkpoints"), exist_ok=True)
  config = {"data": {"kind": "pcfg", "preset": "tiny", "seed": 0}, "arm": arm, "replicate": seed or 0,
            "seed": (seed or 0) if own_seed is None else own_seed}
  json.dump(config, open(os.path.join(d, "config.json"), "w"))
  json.dump({"num_params": num_params, "language": language}, open(os.path.join(d, "summary.json"), "w"))
  with open(os.path.join(d, "metrics.jsonl"), "w") as f:
    for s, l in zip(steps, losses):
      f.write(json.dumps({"step": s, "eval_loss": l, "gap": l - optimal, "gap_se": se,
                          "gap_relative": (l - optimal) / optimal, "gap_relative_se": se / optimal}) + "\n")
  curv = {"steps": {str(s): {"hessian_trace_hutchinson": {"value": t, "stderr": 0.05, "dof": 31},
                             "fisher_trace": {"value": t * 1.01, "stderr": 0.05}} for s, t in zip(steps, traces)}}
  json.dump(curv, open(os.path.join(d, "curvature.json"), "w"))
  rng = np.random.default_rng(num_params + 17 * (seed or 0))
  probes = {"tasks": {"A": {"majority_accuracy": 0.25, "bayes_accuracy": 0.93, "num_classes": 4}},
            "lookup": {"A": {"accuracy_mean": 0.5, "accuracy_std": 0.01}},
            "steps": {str(s): {"A": {"accuracy_mean": a, "accuracy_std": probe_sd,
                                     "accuracy_per_seed": list(a + probe_sd * rng.standard_normal(5))}}
                      for s, a in zip(steps, accs)}}
  json.dump(probes, open(os.path.join(d, "probes.json"), "w"))
  if pair_noise is not None:  # per-pair losses: a shared pair difficulty plus the run's own noise
    base, noise = pair_noise
    for s, l in zip(steps, losses):
      pair_losses.record(d, s, base + (l - base.mean()) + noise, np.full(len(base), optimal), "pairs-v1")
  return d


def _seeded(root, arm, num_params, acc0, acc_gain, trace0, seeds=3, seed_sd=0.01, steps=(200, 400, 600),
            trace_drop=0.5, losses=(1.006, 1.005, 1.005), independent=False, loss_sd=0.0003):
  """`seeds` runs of an arm: accuracy rises by acc_gain over the steps (Tr(H) falls by trace_drop per checkpoint),
  a seed effect of SD seed_sd on top, held-out losses `losses` with a seed effect of SD loss_sd. Seed k of every
  arm records seed k (the earlier, paired design) unless `independent` (each run its own seed)."""
  rng = np.random.default_rng(num_params)
  dirs = []
  for k in range(seeds):
    u = seed_sd * rng.standard_normal()
    accs = [acc0 + u + acc_gain * i / (len(steps) - 1) + 0.003 * rng.standard_normal() for i in range(len(steps))]
    traces = [trace0 - trace_drop * i + 0.1 * rng.standard_normal() for i in range(len(steps))]
    shift = loss_sd * rng.standard_normal()
    noisy = [l + shift + 0.0002 * rng.standard_normal() for l in losses]
    dirs.append(_write_run(root, arm, num_params, list(steps), traces, accs, noisy,
                           seed=k if seeds > 1 else None, own_seed=zlib.crc32(f"{arm}/{k}".encode()) if independent else None))
  return dirs


def _row(text, prefix):
  (line,) = [l for l in text.splitlines() if l.startswith(f"| {prefix}")]
  return line


def test_findings_open_the_report_and_rest_on_pre_training_seeds(tmp_path):
  root = str(tmp_path)
  dirs = _seeded(root, "small", 1000, 0.60, 0.04, 5.0) + _seeded(root, "big", 4000, 0.70, 0.05, 3.5)
  assert layout.find_run_dirs(root) == sorted(dirs)
  out = tmp_path / "out"
  text = open(write_report(dirs, str(out))).read()
  assert text.index("## Findings") < text.index("## Final checkpoints")
  findings = text[text.index("## Findings"):text.index("## Figures")]
  # No experiment declared a family: the default one, every claim, stated with its correction.
  assert "declared by default: every claim" in findings and "Holm's correction" in findings
  # Seed k of both arms shares its seed (the earlier design): paired by seed, and said so.
  assert "Seed design: paired" in findings
  # Continued training: +4 / +5 points in every seed, over 3 seeds with a t interval on 2 dof; one arm (big, the
  # longest span by name order) is the confirmatory row, the other is exploratory.
  row = _row(findings, "Continued training improves task A at equal loss (big, step 200 → 600 in each of its 3 runs")
  assert "| 3 seeds |" in row and "**reproduced**" in row
  row = _row(findings, "Continued training improves task A at equal loss (small")
  assert "reproduced" not in row and "| 3 seeds |" in row
  row = _row(findings, "Larger is better at equal loss, task A")
  assert "| 3 seeds, paired |" in row and "**reproduced**" in row and "+6.9" in row  # the paper's PCFG figure
  assert "## Replication: between-seed vs within-run noise" in text and "| big | 3 |" in text
  for name in ("acc_vs_trace_A.png", "gap.png", "continued.png", "arms.png", rows.FILE):
    assert os.path.exists(out / name), name
  # findings.json holds every row of the report, read back by one function.
  back = rows.read(str(out / rows.FILE))
  assert back.correction == "Holm" and back.seed_design == "paired" and back.level == 0.05
  assert len(back.rows) == len([l for l in text.splitlines() if l.startswith("- ")])
  size_row = next(r for r in back.rows if r.claim == "size" and r.task == "A")
  assert size_row.confirmatory and size_row.verdict == "reproduced" and size_row.runs == 3
  assert np.isfinite(size_row.detectable) and size_row.runs_needed is not None
  # Deterministic: same inputs, same bytes.
  assert open(write_report(dirs, str(tmp_path / "out2"))).read() == text
  assert open(tmp_path / "out2" / rows.FILE).read() == open(out / rows.FILE).read()


def test_one_seed_per_arm_gives_measurements_not_verdicts(tmp_path):
  root = str(tmp_path)
  dirs = _seeded(root, "small", 1000, 0.60, 0.04, 5.0, seeds=1) + _seeded(root, "big", 4000, 0.70, 0.05, 3.5, seeds=1)
  text = open(write_report(dirs, str(tmp_path / "out"))).read()
  assert "**reproduced**" not in text and "**opposite**" not in text and "**not significant" not in text
  assert "**untested: too few runs (1 vs 1; ≥ 2 per arm needed)**" in text and "probe/estimator noise only" in text
  assert "--config.seeds=3" in text  # says which command gives the replicated answer


def test_no_effect_is_not_called_reproduced(tmp_path):
  root = str(tmp_path)
  dirs = _seeded(root, "flat", 1000, 0.60, 0.0, 4.0, seed_sd=0.02, trace_drop=0.0)
  text = open(write_report(dirs, str(tmp_path / "out"))).read()
  row = _row(text, "Continued training improves task A at equal loss")
  assert "**not significant at this scale** (excludes effects below" in row
  assert "**reproduced**" not in text


def test_correlations_resample_whole_runs(tmp_path):
  """Four seeds of two arms, 3 checkpoints each: 24 points but 8 runs; the row states both."""
  root = str(tmp_path)
  dirs = (_seeded(root, "a", 1000, 0.60, 0.04, 5.0, seeds=4, independent=True)
          + _seeded(root, "b", 1000, 0.62, 0.04, 4.0, seeds=4, independent=True))
  text = open(write_report(dirs, str(tmp_path / "out"))).read()
  assert "| 8 runs, 24 checkpoints |" in _row(text, "Flatter is better, task A")
  assert "Seed design: independent streams" in text


def test_a_correlation_with_no_converged_checkpoint_says_so(tmp_path):
  """Every checkpoint 4–6% of L* above the optimum (the saturation gap is 3%): the correlation rows are untested
  because nothing converged, and say so, rather than passing a 'converged' gate over no checkpoints."""
  root = str(tmp_path)
  dirs = (_seeded(root, "a", 1000, 0.60, 0.04, 5.0, seeds=4, independent=True, losses=(1.06, 1.05, 1.04))
          + _seeded(root, "b", 1000, 0.62, 0.04, 4.0, seeds=4, independent=True, losses=(1.06, 1.05, 1.04)))
  text = open(write_report(dirs, str(tmp_path / "out"))).read()
  row = _row(text, "Flatter is better, task A")
  assert "| 0 runs, 0 checkpoints |" in row
  assert "not converged: no checkpoint within 3.0% of L* and at a minimum" in row and "converged ✗" in row


def _pairs(n=400, seed=0):
  rng = np.random.default_rng(seed)
  return rng.gamma(2.0, 1.0, n), rng


def test_isoloss_matching_is_paired_over_the_same_held_out_pairs(tmp_path):
  root = str(tmp_path)
  base, rng = _pairs()
  shared = 0.5 * rng.standard_normal(len(base))  # both models find the same pairs hard
  a = _write_run(root, "a", 1000, [600], [4.0], [0.60], [1.0050], pair_noise=(base, shared))
  b = _write_run(root, "b", 4000, [600], [3.0], [0.62], [1.0070], pair_noise=(base, shared + 1e-3 *
                                                                                rng.standard_normal(len(base))))
  pts = [p for d in (a, b) for p in points.points_of(reader.read_run(d))]
  # Independent SEs (gap_se 0.002 each) call a 0.002 difference equal; the per-pair difference has SE ~5e-5.
  assert abs(pts[0].eval.eval_loss - pts[1].eval.eval_loss) < np.hypot(0.002, 0.002)
  diff, se, paired = isoloss.loss_difference(pts[1], pts[0])
  assert paired and diff == pytest.approx(0.002, abs=2e-4) and abs(diff) / se > 10
  assert isoloss.matched_pairs(pts, tol=1.0) == []
  text = open(write_report([a, b], str(tmp_path / "out"))).read()
  assert "No checkpoints of different runs match in loss" in text
  # Without the per-pair file (older runs) the unpaired rule is used, and says so.
  for d in (a, b):
    os.remove(os.path.join(d, pair_losses.FILE))
  pts = [p for d in (a, b) for p in points.points_of(reader.read_run(d))]
  (x, y), = isoloss.matched_pairs(pts, tol=1.0)
  assert (x.run, y.run) == ("b", "a")
  assert ", unpaired)" in "\n".join(isoloss.isoloss_lines(pts, ["A"], 1.0))


def test_isoloss_matches_checkpoints_of_one_language_only(tmp_path):
  root = str(tmp_path)
  a = _write_run(root, "a", 1000, [600], [4.0], [0.60], [1.0050], language="pcfg")
  b = _write_run(root, "b", 4000, [600], [3.0], [0.62], [1.0050], language="hmm")
  c = _write_run(root, "c", 4000, [600], [3.0], [0.62], [1.0051], language="pcfg")
  pts = [p for d in (a, b, c) for p in points.points_of(reader.read_run(d))]
  assert [(x.run, y.run) for x, y in isoloss.matched_pairs(pts, tol=1.0)] == [("c", "a")]


def test_isoloss_never_pairs_two_checkpoints_of_the_same_run(tmp_path):
  """Two checkpoints of run a at the same loss are one run's continued training, not two runs at equal loss; run b
  is far from both (12 SEs), so nothing matches."""
  root = str(tmp_path)
  a = _write_run(root, "a", 1000, [400, 600], [4.0, 3.5], [0.60, 0.61], [1.0050, 1.0050])
  b = _write_run(root, "b", 4000, [600], [3.0], [0.62], [1.0400])
  pts = [p for d in (a, b) for p in points.points_of(reader.read_run(d))]
  assert isoloss.matched_pairs(pts, tol=1.0) == []
  c = _write_run(root, "c", 4000, [600], [3.0], [0.62], [1.0051])  # another run at that loss: one pair
  pts += points.points_of(reader.read_run(c))
  assert [(x.run, y.run) for x, y in isoloss.matched_pairs(pts, tol=1.0)] == [("c", "a")]
  d = _write_run(root, "d", 8000, [600], [2.0], [0.65], [1.0800])  # a fourth run: a still pairs with c, not b
  pts += points.points_of(reader.read_run(d))
  (x, y), = isoloss.matched_pairs(pts[:1] + pts[2:], tol=1.0)  # a@400, b, c, d: a's partner is two places on
  assert (x.run, y.run) == ("c", "a")
  (line,) = [l for l in isoloss.isoloss_lines(pts, ["A"], 1.0) if l.startswith("| c@600")]
  assert line.split("|")[-2].strip() != "–" and "[" in line.split("|")[-2]  # ΔTr(H) with its interval


def test_continued_training_compares_one_span_common_to_every_seed(tmp_path):
  # Seed 1 reaches the saturation gap only at step 400 (4% of L* at step 200): the span is 400 → 600 in every run,
  # and the row says so (not the first seed's 200 → 600).
  root = str(tmp_path)
  dirs = _seeded(root, "big", 4000, 0.70, 0.05, 3.5)
  path = os.path.join(dirs[1], "metrics.jsonl")
  rows_ = [json.loads(l) for l in open(path)]
  rows_[0].update(gap_relative=0.04, eval_loss=1.04, gap=0.04)
  with open(path, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows_)
  text = open(write_report(dirs, str(tmp_path / "out"))).read()
  row = _row(text, "Continued training improves task A at equal loss")
  assert "(big, step 400 → 600 in each of its 3 runs)" in row and "| 3 seeds |" in row


def test_the_continued_training_verdict_rests_on_the_arm_with_the_most_runs_then_the_longest_span(tmp_path):
  """Two arms with a common span: the confirmatory row is the 3-seed arm's (named last here, so neither the name
  order nor fewer seeds would pick it); the 2-seed arm's row is exploratory. Between equal seeds, the longer span."""
  root = str(tmp_path)
  dirs = _seeded(root, "a_two", 1000, 0.60, 0.05, 4.0, seeds=2) + _seeded(root, "b_three", 4000, 0.70, 0.05, 3.5)
  report = report_markdown.build([reader.read_run(d) for d in dirs], report_markdown.Settings(claims="continued"),
                                 figures=False)
  rows_ = [r for r in report.rows if r.claim == "continued"]
  assert [r.detail.split(",")[0] for r in rows_ if r.confirmatory] == ["b_three"]
  assert [r.detail.split(",")[0] for r in rows_ if not r.confirmatory] == ["a_two"]
  # Equal runs: the longer common span (200 → 600 against 400 → 600).
  dirs = _seeded(os.path.join(root, "spans"), "a_short", 1000, 0.60, 0.05, 4.0, steps=(400, 600),
                 losses=(1.005, 1.005)) + _seeded(os.path.join(root, "spans"), "b_long", 4000, 0.70, 0.05, 3.5)
  report = report_markdown.build([reader.read_run(d) for d in dirs], report_markdown.Settings(claims="continued"),
                                 figures=False)
  assert [r.detail for r in report.rows if r.claim == "continued" and r.confirmatory] == [
      "b_long, step 200 → 600 in each of its 3 runs"]


def test_a_declared_claim_the_records_cannot_measure_stays_in_the_family_untested(tmp_path):
  """The primary task (B) was never probed: both declared rows are in the family (m = 2), untested, saying why."""
  dirs = _seeded(str(tmp_path), "big", 4000, 0.70, 0.05, 3.5)
  report = report_markdown.build([reader.read_run(d) for d in dirs],
                                 report_markdown.Settings(claims="continued,flatter", primary_task="B"),
                                 figures=False)
  confirmatory = [r for r in report.rows if r.confirmatory]
  assert sorted(r.claim for r in confirmatory) == ["continued", "flatter"]
  for r in confirmatory:
    assert r.verdict == "untested" and "the primary task B was not measured" in r.reason, r


def test_size_table_compares_traces_own_and_embedded(tmp_path):
  root = str(tmp_path)
  small = _write_run(root, "small", 1000, [600], [4.0], [0.64], [1.005])
  big = _write_run(root, "big", 4000, [600], [2.5], [0.75], [1.005])
  for d, embedded in ((small, 2.9), (big, 2.5)):
    path = os.path.join(d, "curvature.json")
    curv = json.load(open(path))
    curv["steps"]["600"].update(loss=1.005, hessian_trace_embedded={
        "value": embedded, "stderr": 0.05, "into": "big", "embedded_loss": 1.005 + 2e-7})
    json.dump(curv, open(path, "w"))
  text = open(write_report([big, small], str(tmp_path / "out"))).read()
  assert "## Model size at the final checkpoints" in text and "| Tr(H) embedded in big |" in text
  assert "| small | 600 | 1,000 | 0.50 ± 0.20 | 4.00 ± 0.05 | 2.90 ± 0.05 | +2.0e-07 |" in text
  # One seed each: measurements (t on the estimators' 31 dof), exploratory, with why no more can be said.
  assert ("- Larger is flatter, Tr(H) own parameterization (big 4,000 vs small 1,000 params), tiny: -1.50 [-1.64, "
          "-1.36] Tr(H) (exploratory; n: 1 vs 1 seeds (probe/estimator noise only); ") in text
  assert "- Larger is flatter, Tr(H) embedded in the largest" in text and "-0.40 [-0.54, -0.26]" in text


def test_finetune_accuracies_get_their_own_columns(tmp_path):
  root = str(tmp_path)
  big = _write_run(root, "big", 4000, [600], [2.5], [0.75], [1.005])
  path = os.path.join(big, "probes.json")
  probes = json.load(open(path))
  probes["steps"]["600"]["finetune"] = {"A": {"accuracy_mean": 0.9, "accuracy_std": 0.01,
                                              "accuracy_per_seed": [0.89, 0.9, 0.91]}}
  json.dump(probes, open(path, "w"))
  text = open(write_report([big], str(tmp_path / "out"))).read()
  assert "| fine-tune A % |" in text and "| 90.0 ± 1.0 |" in text


def _set_config(run_dir, **fields):
  path = os.path.join(run_dir, "config.json")
  config = json.load(open(path))
  for dotted, value in fields.items():
    section, key = dotted.split(".")
    config.setdefault(section, {})[key] = value
  json.dump(config, open(path, "w"))


def test_fixed_size_compares_each_arm_with_the_reference_and_only_the_adversarial_arm_gets_a_verdict(tmp_path):
  root = str(tmp_path)
  dirs = (_seeded(root, "adamw", 1000, 0.60, 0.04, 5.0, independent=True)
          + _seeded(root, "sam", 1000, 0.66, 0.04, 3.0, independent=True)
          + _seeded(root, "adversarial", 1000, 0.40, 0.04, 5.5, independent=True))
  for d in dirs:
    _set_config(d, **{"report.claims": "algorithm"})
  for d in dirs[6:]:
    _set_config(d, **{"train.algorithm": "adversarial", "adversarial.match_gap_of": "adamw"})
  text = open(write_report(dirs, str(tmp_path / "out"))).read()
  assert "## Fixed size: each arm against the reference arm of its size" in text
  row = [l for l in text.splitlines() if l.startswith("| sam − adamw | 1,000 | 3 vs 3 |")][0]
  assert row.split(" | ")[3].startswith("+0.")  # near-equal losses in every seed
  assert "declared by the experiment config (report.claims)" in text
  # The family is the declared claim: the adversarial arm against the arm its λ tracked, expected worse.
  (adv,) = [l for l in text.splitlines() if l.startswith("| The algorithm matters at equal loss, task A "
                                                          "(adversarial − adamw)")]
  assert "**reproduced**" in adv and "| 3 vs 3 seeds |" in adv and "89.9 vs 83.1" in adv
  # SAM's comparison is exploratory: an interval, no verdict words.
  (sam,) = [l for l in text.splitlines() if l.startswith("| The algorithm matters at equal loss, task A (sam")]
  assert "**" not in sam and "+6.0 [" in sam


def test_arms_not_at_equal_loss_get_no_verdict(tmp_path):
  # The adversarial arm ends 5% of L* above AdamW: its (large, significant) accuracy drop is not an equal-loss
  # comparison, so the verdict says so instead of "reproduced"; the same for sizes.
  root = str(tmp_path)
  dirs = (_seeded(root, "adamw", 1000, 0.70, 0.04, 3.0)
          + _seeded(root, "adversarial", 1000, 0.50, 0.04, 6.0, losses=(1.07, 1.06, 1.055)))
  text = open(write_report(dirs, str(tmp_path / "out"))).read()
  finding = _row(text, "The algorithm matters at equal loss, task A (adversarial − adamw)")
  assert "**untested: not at equal loss: Δgap +5.0" in finding and "reproduced" not in finding
  assert "AdamW vs adversarial" in finding  # the paper's PCFG numbers
  sizes = (_seeded(str(tmp_path / "s"), "small", 1000, 0.60, 0.04, 5.0, losses=(1.04, 1.03, 1.025))
           + _seeded(str(tmp_path / "s"), "big", 4000, 0.70, 0.05, 3.5))
  text = open(write_report(sizes, str(tmp_path / "out2"))).read()
  assert "untested: not at equal loss: Δgap -2.0" in _row(text, "Larger is better at equal loss, task A")


def test_a_nan_gap_does_not_pass_the_equal_loss_gate(tmp_path):
  root = str(tmp_path)
  dirs = _seeded(root, "small", 1000, 0.60, 0.04, 5.0) + _seeded(root, "big", 4000, 0.70, 0.05, 3.5)
  path = os.path.join(dirs[4], "metrics.jsonl")  # big/seed_1: its final gap was not recorded
  rows_ = [json.loads(l) for l in open(path)]
  rows_[-1]["gap_relative"] = float("nan")
  with open(path, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows_)
  row = _row(open(write_report(dirs, str(tmp_path / "out"))).read(), "Larger is better at equal loss, task A")
  assert "**untested: not at equal loss" in row and "reproduced" not in row


def _set_lambda_max(run_dir, step, value):
  path = os.path.join(run_dir, "curvature.json")
  curv = json.load(open(path))
  curv["steps"][str(step)]["lambda_max"] = {"value": value, "residual": 0.0, "matvecs": 10}
  json.dump(curv, open(path, "w"))


def test_comparisons_at_an_indefinite_final_checkpoint_get_no_verdict(tmp_path):
  # The big arm's seed 1 ends with Tr(H) 2.5 ± 0.1 but a top Ritz value of 8: its Hessian has negative eigenvalues,
  # so the size comparison is not one of minima; a Ritz value under the trace (a PSD-consistent checkpoint) leaves
  # the verdict as it was.
  root = str(tmp_path)
  small = _seeded(os.path.join(root, "a"), "small", 1000, 0.60, 0.04, 5.0)
  big = _seeded(os.path.join(root, "a"), "big", 4000, 0.70, 0.05, 3.5)
  for d in small + big:
    _set_lambda_max(d, 600, 0.5)
  before = open(write_report(small + big, str(tmp_path / "r0"))).read()
  _set_lambda_max(big[1], 600, 8.0)
  after = open(write_report(small + big, str(tmp_path / "r1"))).read()
  claim = "Larger is better at equal loss, task A"
  assert "not at a minimum" not in _row(before, claim) and "**reproduced**" in _row(before, claim)
  assert "**untested: not at a minimum (1 of 6 checkpoints; big/seed_1 step 600: Tr(H) 2." in _row(after, claim)
  assert "< λmax 8)**" in _row(after, claim)
  # The exploratory Tr(H) row says the same, without verdict words.
  assert "not at a minimum (1 of 6 checkpoints" in _row(after, "Larger is flatter, Tr(H) own parameterization")
  # Continued training compares steps 200 → 600 within each run: seed 1's last checkpoint is one of them.
  assert "not at a minimum" in _row(after, "Continued training improves task A at equal loss (big")
  assert "not at a minimum" not in _row(after, "Continued training improves task A at equal loss (small")


def _drift_runs(root, rate_times_b, noise):
  dirs = []
  rng = np.random.default_rng(0)
  for b in (64, 128, 256, 512):
    steps = [0, 200, 400, 600, 800, 1000]
    traces = [100.0 - rate_times_b / b * s + noise * rng.standard_normal() for s in steps]
    d = _write_run(root, f"b{b}", 1000, steps, traces, [0.6] * 6, [1.01] * 6)
    json.dump({"data": {"kind": "pcfg", "preset": "tiny", "seed": 0}, "train": {"batch_size": b},
               "report": {"claims": "drift"}}, open(os.path.join(d, "config.json"), "w"))
    dirs.append(d)
  return dirs


def test_the_drift_row_needs_an_interval_that_excludes_no_dependence_on_b(tmp_path):
  clear = open(write_report(_drift_runs(str(tmp_path / "a"), 2.56, 0.0), str(tmp_path / "ra"))).read()
  assert "the predicted −1 is inside it, no B dependence (0) outside" in clear
  assert "resolved (95%): 4 of 4" in clear
  assert "**reproduced**" in _row(clear, "Flatness drift falls with batch size")
  noisy = open(write_report(_drift_runs(str(tmp_path / "b"), 0.256, 5.0), str(tmp_path / "rb"))).read()
  # Seeded noise of SD 5 against a drift of at most 0.004·1000 = 4: no single run resolved, no verdict.
  assert "resolved (95%): 0 of 4" in noisy
  assert "**reproduced**" not in noisy and "**opposite**" not in noisy


def test_size_table_without_embedding_has_no_embedded_columns(tmp_path):
  root = str(tmp_path)
  dirs = _seeded(root, "small", 1000, 0.60, 0.04, 5.0) + _seeded(root, "big", 4000, 0.70, 0.05, 3.5)
  text = open(write_report(dirs, str(tmp_path / "out"))).read()
  assert "| run | step | params | gap % of L* | Tr(H) own | Fisher Tr | acc A % |" in text
  assert "embedded" not in text
