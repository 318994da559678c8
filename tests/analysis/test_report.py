"""Report generation from a fixture of run directories written by hand (no training needed)."""
import json
import os

import numpy as np
import pytest

from flatness_jax.analysis import isoloss, points
from flatness_jax.jobs.report import write_report
from flatness_jax.rundir import layout, pair_losses, reader


def _write_run(root, arm, num_params, steps, traces, accs, losses, optimal=1.0, se=0.002, seed=None,
               probe_sd=0.005, pair_noise=None):
  """One run directory: `root/arm` (seed None) or `root/arm/seed_<seed>` with config.arm / replicate recorded."""
  d = os.path.join(root, arm) if seed is None else os.path.join(root, arm, f"seed_{seed}")
  os.makedirs(os.path.join(d, "checkpoints"), exist_ok=True)
  config = {"data": {"kind": "pcfg", "preset": "tiny", "seed": 0}, "arm": arm, "replicate": seed or 0,
            "seed": seed or 0}
  json.dump(config, open(os.path.join(d, "config.json"), "w"))
  json.dump({"num_params": num_params, "language": "tiny"}, open(os.path.join(d, "summary.json"), "w"))
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
            trace_drop=0.5, losses=(1.020, 1.010, 1.005)):
  """`seeds` runs of an arm: accuracy rises by acc_gain over the steps (Tr(H) falls by trace_drop per checkpoint),
  a seed effect of SD seed_sd on top."""
  rng = np.random.default_rng(num_params)
  dirs = []
  for k in range(seeds):
    u = seed_sd * rng.standard_normal()
    accs = [acc0 + u + acc_gain * i / (len(steps) - 1) for i in range(len(steps))]
    traces = [trace0 - trace_drop * i + 0.1 * rng.standard_normal() for i in range(len(steps))]
    dirs.append(_write_run(root, arm, num_params, list(steps), traces, accs, list(losses),
                           seed=k if seeds > 1 else None))
  return dirs


def test_findings_open_the_report_and_rest_on_pre_training_seeds(tmp_path):
  root = str(tmp_path)
  dirs = _seeded(root, "small", 1000, 0.60, 0.04, 5.0) + _seeded(root, "big", 4000, 0.70, 0.05, 3.5)
  assert layout.find_run_dirs(root) == sorted(dirs)
  text = open(write_report(dirs, str(tmp_path / "out"), saturated_gap=0.03)).read()
  assert text.index("## Findings") < text.index("## Final checkpoints")
  findings = text[text.index("## Findings"):text.index("## Figures")]
  # Continued training: +4 / +5 points in every seed, tested over 3 seeds with a t interval on 2 dof.
  assert "| Continued training improves task A (big, step 200 → 600" in findings
  row = [l for l in findings.splitlines() if l.startswith("| Continued training improves task A (big")][0]
  assert "| 3 seeds |" in row and "**reproduced**" in row
  row = [l for l in findings.splitlines() if l.startswith("| Larger is better at equal loss, task A")][0]
  assert "| 3 vs 3 seeds |" in row and "**reproduced**" in row and "+6.9" in row  # the paper's PCFG figure
  assert "untested" not in findings
  assert "## Replication: between-seed vs within-run noise" in text and "| big | 3 |" in text
  for name in ("acc_vs_trace_A.png", "gap.png", "continued.png", "arms.png"):
    assert os.path.exists(tmp_path / "out" / name), name
  # Deterministic: same inputs, same bytes.
  assert open(write_report(dirs, str(tmp_path / "out2"), saturated_gap=0.03)).read() == text


def test_one_seed_per_arm_gives_measurements_not_verdicts(tmp_path):
  root = str(tmp_path)
  dirs = _seeded(root, "small", 1000, 0.60, 0.04, 5.0, seeds=1) + _seeded(root, "big", 4000, 0.70, 0.05, 3.5, seeds=1)
  text = open(write_report(dirs, str(tmp_path / "out"))).read()
  assert "**reproduced**" not in text and "**opposite**" not in text and "**not significant" not in text
  assert "**untested: 1 seed**" in text and "probe/estimator noise only" in text
  assert "--config.seeds=3" in text  # says which command gives the replicated answer


def test_no_effect_is_not_called_reproduced(tmp_path):
  root = str(tmp_path)
  dirs = _seeded(root, "flat", 1000, 0.60, 0.0, 4.0, seed_sd=0.02, trace_drop=0.0)
  text = open(write_report(dirs, str(tmp_path / "out"))).read()
  assert "not significant at this scale" in text
  assert "**reproduced**" not in text


def test_correlations_resample_whole_runs(tmp_path):
  """Four seeds of two arms, 3 checkpoints each: 24 points but 8 runs; the row states both."""
  root = str(tmp_path)
  dirs = _seeded(root, "a", 1000, 0.60, 0.04, 5.0, seeds=4) + _seeded(root, "b", 1000, 0.62, 0.04, 4.0, seeds=4)
  text = open(write_report(dirs, str(tmp_path / "out"))).read()
  row = [l for l in text.splitlines() if l.startswith("| Flatter is better, task A")][0]
  assert "| 8 runs, 24 checkpoints |" in row


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
  # One seed each: measurements (t on the estimators' 31 dof), untested.
  assert ("- Larger is flatter, Tr(H) own parameterization (big 4,000 vs small 1,000 params, gaps 0.50/0.50% of L*), "
          "tiny: -1.50 [-1.64, -1.36] → **untested: 1 seed**") in text
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


def test_fixed_size_table_compares_each_arm_with_the_first_of_its_size_over_seeds(tmp_path):
  root = str(tmp_path)
  dirs = _seeded(root, "adamw", 1000, 0.60, 0.04, 5.0) + _seeded(root, "sam", 1000, 0.66, 0.04, 3.0)
  text = open(write_report(dirs, str(tmp_path / "out"))).read()
  assert "## Fixed size: each arm against the first arm of its size" in text
  row = [l for l in text.splitlines() if l.startswith("| sam − adamw | 1,000 | 3 vs 3 |")][0]
  cells = row.split(" | ")
  assert cells[3].startswith("+0.00 [")  # equal losses in every seed
  finding = [l for l in text.splitlines() if l.startswith("| The algorithm matters at fixed size, task A")][0]
  assert "sam is flatter, so expected better" in finding and "**reproduced**" in finding
  assert "3 vs 3 seeds" in finding and "gaps 0.50/0.50% of L*" in finding


def test_arms_not_at_equal_loss_get_no_verdict(tmp_path):
  # The adversarial arm ends 5% of L* above AdamW: its (large, significant) accuracy drop is not an equal-loss
  # comparison, so the verdict says so instead of "reproduced"; the same for sizes.
  root = str(tmp_path)
  dirs = (_seeded(root, "adamw", 1000, 0.70, 0.04, 3.0)
          + _seeded(root, "adversarial", 1000, 0.50, 0.04, 6.0, losses=(1.07, 1.06, 1.055)))
  text = open(write_report(dirs, str(tmp_path / "out"))).read()
  finding = [l for l in text.splitlines() if l.startswith("| The algorithm matters at fixed size, task A")][0]
  assert "untested: not at equal loss (Δgap +5.0% of L*)" in finding and "reproduced" not in finding
  assert "AdamW vs adversarial" in finding  # the paper's PCFG numbers
  sizes = (_seeded(str(tmp_path / "s"), "small", 1000, 0.60, 0.04, 5.0, losses=(1.04, 1.03, 1.025))
           + _seeded(str(tmp_path / "s"), "big", 4000, 0.70, 0.05, 3.5))
  text = open(write_report(sizes, str(tmp_path / "out2"))).read()
  row = [l for l in text.splitlines() if l.startswith("| Larger is better at equal loss, task A")][0]
  assert "untested: not at equal loss (Δgap -2.0% of L*)" in row


def _set_lambda_max(run_dir, step, value):
  path = os.path.join(run_dir, "curvature.json")
  curv = json.load(open(path))
  curv["steps"][str(step)]["lambda_max"] = {"value": value, "residual": 0.0, "matvecs": 10}
  json.dump(curv, open(path, "w"))


def test_comparisons_at_an_indefinite_final_checkpoint_get_no_verdict(tmp_path):
  # The big arm's seed 1 ends with Tr(H) 2.5 ± 0.05 but a top Ritz value of 8: its Hessian has negative eigenvalues,
  # so neither the accuracy nor the Tr(H) comparison of sizes is a comparison of minima; a Ritz value under the
  # trace (a PSD-consistent checkpoint) leaves the verdicts as they were.
  root = str(tmp_path)
  small = _seeded(os.path.join(root, "a"), "small", 1000, 0.60, 0.04, 5.0)
  big = _seeded(os.path.join(root, "a"), "big", 4000, 0.70, 0.05, 3.5)
  for d in small + big:
    _set_lambda_max(d, 600, 0.5)
  before = open(write_report(small + big, str(tmp_path / "r0"))).read()
  _set_lambda_max(big[1], 600, 8.0)
  after = open(write_report(small + big, str(tmp_path / "r1"))).read()
  def row(text, claim):
    return [l for l in text.splitlines() if l.startswith(f"| {claim}")][0]
  for claim in ("Larger is better at equal loss, task A", "Larger is flatter, Tr(H) own parameterization"):
    assert "not at a minimum" not in row(before, claim)
    assert "**untested: not at a minimum (1 of 6 checkpoints; big/seed_1 step 600: Tr(H) ≤ " in row(after, claim)
    assert "< λmax 8)**" in row(after, claim)
  assert "**reproduced**" in row(before, "Larger is better at equal loss, task A")
  # Continued training compares steps 200 → 600 within each run: seed 1's last checkpoint is one of them.
  assert "not at a minimum" in row(after, "Continued training improves task A (big")
  assert "not at a minimum" not in row(after, "Continued training improves task A (small")
  # Fixed size: the same gate on the algorithm comparison and its ΔTr(H).
  adamw = _seeded(os.path.join(root, "b"), "adamw", 1000, 0.60, 0.04, 5.0)
  sam = _seeded(os.path.join(root, "b"), "sam", 1000, 0.66, 0.04, 3.0)
  _set_lambda_max(sam[0], 600, 9.0)
  text = open(write_report(adamw + sam, str(tmp_path / "r2"))).read()
  assert "untested: not at a minimum (1 of 6 checkpoints; sam/seed_0" in row(
      text, "The algorithm matters at fixed size, task A")
  assert "- ΔTr(H) at fixed size (sam − adamw), tiny: " in text
  assert "→ **untested: not at a minimum" in [l for l in text.splitlines() if l.startswith("- ΔTr(H) at fixed size")][0]


def _drift_runs(root, rate_times_b, noise):
  dirs = []
  rng = np.random.default_rng(0)
  for b in (64, 128, 256, 512):
    steps = [0, 200, 400, 600, 800, 1000]
    traces = [100.0 - rate_times_b / b * s + noise * rng.standard_normal() for s in steps]
    d = _write_run(root, f"b{b}", 1000, steps, traces, [0.6] * 6, [1.01] * 6)
    json.dump({"data": {"kind": "pcfg", "preset": "tiny", "seed": 0}, "train": {"batch_size": b}},
              open(os.path.join(d, "config.json"), "w"))
    dirs.append(d)
  return dirs


def test_drift_verdict_needs_an_interval_that_separates_the_prediction_from_zero(tmp_path):
  clear = open(write_report(_drift_runs(str(tmp_path / "a"), 2.56, 0.0), str(tmp_path / "ra"))).read()
  assert "**consistent with** against the predicted −1" in clear
  assert "significant (95%): 4 of 4" in clear
  noisy = open(write_report(_drift_runs(str(tmp_path / "b"), 0.256, 5.0), str(tmp_path / "rb"))).read()
  # Seeded noise of SD 5 against a drift of at most 0.004·1000 = 4: slope 0.16 ± 0.82, no single run resolved.
  assert "**too uncertain to test** against the predicted −1" in noisy
  assert "significant (95%): 0 of 4" in noisy


def test_size_table_without_embedding_has_no_embedded_columns(tmp_path):
  root = str(tmp_path)
  dirs = _seeded(root, "small", 1000, 0.60, 0.04, 5.0) + _seeded(root, "big", 4000, 0.70, 0.05, 3.5)
  text = open(write_report(dirs, str(tmp_path / "out"))).read()
  assert "| run | step | params | gap % of L* | Tr(H) own | Fisher Tr | acc A % |" in text
  assert "embedded" not in text
