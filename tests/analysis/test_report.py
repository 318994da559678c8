"""Report generation from a fixture of run directories written by hand (no training needed)."""
import json
import os

import numpy as np

from flatness_jax.analysis import isoloss, points, report


def _write_run(root, name, num_params, steps, traces, accs, losses, optimal=1.0, se=0.002):
  d = os.path.join(root, name)
  os.makedirs(os.path.join(d, "checkpoints"), exist_ok=True)
  json.dump({"data": {"kind": "pcfg", "preset": "tiny", "seed": 0}}, open(os.path.join(d, "config.json"), "w"))
  json.dump({"num_params": num_params, "language": "tiny"}, open(os.path.join(d, "summary.json"), "w"))
  with open(os.path.join(d, "metrics.jsonl"), "w") as f:
    for s, l in zip(steps, losses):
      f.write(json.dumps({"step": s, "eval_loss": l, "gap": l - optimal, "gap_se": se,
                          "gap_relative": (l - optimal) / optimal, "gap_relative_se": se / optimal}) + "\n")
  curv = {"steps": {str(s): {"hessian_trace_hutchinson": {"value": t, "stderr": 0.05},
                             "fisher_trace": {"value": t * 1.01, "stderr": 0.05}} for s, t in zip(steps, traces)}}
  json.dump(curv, open(os.path.join(d, "curvature.json"), "w"))
  rng = np.random.default_rng(num_params)
  probes = {"tasks": {"A": {"majority_accuracy": 0.25, "bayes_accuracy": 0.93, "num_classes": 4}},
            "lookup": {"A": {"accuracy_mean": 0.5, "accuracy_std": 0.01}},
            "steps": {str(s): {"A": {"accuracy_mean": a, "accuracy_std": 0.005,
                                     "accuracy_per_seed": list(a + 0.005 * rng.standard_normal(5))}}
                      for s, a in zip(steps, accs)}}
  json.dump(probes, open(os.path.join(d, "probes.json"), "w"))
  return d


def _fixture(tmp_path):
  root = str(tmp_path)
  small = _write_run(root, "small", 1000, [200, 400, 600], [5.0, 4.5, 4.0], [0.60, 0.62, 0.64],
                     [1.020, 1.010, 1.005])
  big = _write_run(root, "big", 4000, [200, 400, 600], [3.5, 3.0, 2.5], [0.70, 0.72, 0.75],
                   [1.015, 1.008, 1.005])
  return root, [big, small]


def test_report_tables_and_verdicts(tmp_path):
  root, dirs = _fixture(tmp_path)
  assert points.find_run_dirs(root) == sorted(dirs)
  path = report.build_report(dirs, str(tmp_path / "out"), saturated_gap=0.03)
  text = open(path).read()
  # Continued training improves accuracy in the fixture (0.64 vs 0.60 with SE 0.002): reproduced.
  assert "Continued training (small, step 200 → 600" in text
  assert "**reproduced** (paper: improves)" in text
  # The big model is better at its final checkpoint and Tr(H) anti-correlates with accuracy.
  assert "Model size (big 4,000 vs small 1,000" in text
  # Six checkpoints are too few for a correlation CI: the report says so instead of a verdict.
  assert "a rank-correlation CI needs at least 8" in text
  assert "majority class" in text and "93.0" in text and "50.0 ± 1.0" in text
  assert os.path.exists(tmp_path / "out" / "gap.png") and os.path.exists(tmp_path / "out" / "acc_vs_trace_A.png")
  # Deterministic: same inputs, same bytes.
  path2 = report.build_report(dirs, str(tmp_path / "out2"), saturated_gap=0.03)
  assert open(path2).read() == text


def test_no_effect_is_not_called_reproduced(tmp_path):
  root = str(tmp_path)
  d = _write_run(root, "flat", 1000, [200, 400], [4.0, 4.0], [0.600, 0.601], [1.010, 1.009])
  text = open(report.build_report([d], str(tmp_path / "out"))).read()
  assert "not significant at this scale" in text
  assert "**reproduced**" not in text


def test_isoloss_matching_pairs_equal_losses_across_runs(tmp_path):
  _, dirs = _fixture(tmp_path)
  pts = [p for d in dirs for p in points.points_of(points.load_run(d))]
  pairs = isoloss.matched_pairs(pts, tol=1.0)
  # Only the step-600 checkpoints have equal loss (1.005 vs 1.005); 400 differs by 0.002 ≈ 0.7 SE → also matched.
  names = {(a.run, a.step, b.run, b.step) for a, b in pairs}
  assert ("big", 600, "small", 600) in names
  assert all(a.run != b.run for a, b in pairs)
  rows = isoloss.pair_rows(pairs, ["A"])
  row = [r for r in rows if r["a"] == "big@600"][0]
  assert row["acc_A"][0] > 0.1 and row["trace"][0] < 0


def test_size_table_compares_traces_own_and_embedded(tmp_path):
  root, (big, small) = _fixture(tmp_path)
  for d, own, embedded in ((small, 4.0, 2.9), (big, 2.5, 2.5)):
    path = os.path.join(d, "curvature.json")
    curv = json.load(open(path))
    curv["steps"]["600"].update(loss=1.005, hessian_trace_embedded={
        "value": embedded, "stderr": 0.05, "into": "big", "embedded_loss": 1.005 + 2e-7})
    json.dump(curv, open(path, "w"))
  text = open(report.build_report([big, small], str(tmp_path / "out"))).read()
  assert "## Model size at the final checkpoints" in text and "| Tr(H) embedded in big |" in text
  assert "| small | 600 | 1,000 | 0.50 ± 0.20 | 4.00 ± 0.05 | 2.90 ± 0.05 | +2.0e-07 |" in text
  # Own parameterization: 2.5 − 4.0 = −1.5; embedded: 2.5 − 2.9 = −0.4, both with SE 0.07.
  assert "- Tr(H), own parameterization: big − small = -1.50 [-1.64, -1.36] → **reproduced**" in text
  assert "- Tr(H), embedded in big: big − small = -0.40 [-0.54, -0.26] → **reproduced**" in text


def test_finetune_accuracies_get_their_own_columns(tmp_path):
  root, (big, small) = _fixture(tmp_path)
  path = os.path.join(big, "probes.json")
  probes = json.load(open(path))
  probes["steps"]["600"]["finetune"] = {"A": {"accuracy_mean": 0.9, "accuracy_std": 0.01,
                                              "accuracy_per_seed": [0.89, 0.9, 0.91]}}
  json.dump(probes, open(path, "w"))
  text = open(report.build_report([big, small], str(tmp_path / "out"))).read()
  assert "| fine-tune A % |" in text and "| 90.0 ± 1.0 |" in text


def test_fixed_size_table_compares_each_run_with_the_first_of_its_size(tmp_path):
  root = str(tmp_path)
  ref = _write_run(root, "adamw", 1000, [200, 400], [5.0, 4.0], [0.60, 0.64], [1.010, 1.005])
  flat = _write_run(root, "sam", 1000, [200, 400], [3.0, 2.0], [0.62, 0.70], [1.010, 1.006])
  text = open(report.build_report([ref, flat], str(tmp_path / "out"))).read()
  assert "## Fixed size: each run against the first run of its size" in text
  # Δgap = 0.6 − 0.5 = +0.10% ± 1.96·√2·0.2%; ΔTr(H) = 2.0 − 4.0 = −2.00 ± 1.96·√2·0.05.
  assert "| sam − adamw | 1,000 | +0.10 [-0.45, +0.65] | -2.00 [-2.14, -1.86] | +6.0 [" in text


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
  clear = open(report.build_report(_drift_runs(str(tmp_path / "a"), 2.56, 0.0), str(tmp_path / "ra"))).read()
  assert "**consistent with** against the predicted −1" in clear
  assert "significant (95%): 4 of 4" in clear
  noisy = open(report.build_report(_drift_runs(str(tmp_path / "b"), 0.256, 5.0), str(tmp_path / "rb"))).read()
  # Seeded noise of SD 5 against a drift of at most 0.004·1000 = 4: slope 0.16 ± 0.82, no single run resolved.
  assert "**too uncertain to test** against the predicted −1" in noisy
  assert "significant (95%): 0 of 4" in noisy


def test_size_table_without_embedding_has_no_embedded_columns(tmp_path):
  root, dirs = _fixture(tmp_path)
  text = open(report.build_report(dirs, str(tmp_path / "out"))).read()
  assert "| run | step | params | gap % of L* | Tr(H) own | Fisher Tr | acc A % |" in text
  assert "embedded" not in text
