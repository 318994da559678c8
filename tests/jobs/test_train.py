"""The train job records the config that trains (the model preset expanded, explicit fields kept over it), and
trains the seeds of an arm as one program (train.vmap_seeds) with the records of separate runs."""
import json
import os

import jax
import numpy as np
import pytest

from experiments.configs import tiny
from flatness_jax import models
from flatness_jax.jobs import train as train_job
from flatness_jax.rundir import jsonio, rundir
from flatness_jax.train import arms, seed_group


def test_config_json_records_the_resolved_model_an_explicit_field_beats_the_preset(tmp_path):
  config = tiny.get_config()
  config.train.num_steps, config.eval.every, config.checkpoint.every, config.optimizer.warmup_steps = 4, 4, 4, 2
  config.model.preset = "cpu_s"          # d_model 64, 2 layers, 4 heads, FFN 256
  config.model.d_model = 32               # explicit: wins over the preset whatever the order
  summary = train_job.train_and_evaluate(config, str(tmp_path))
  recorded = json.load(open(tmp_path / "config.json"))["model"]
  assert (recorded["preset"], recorded["d_model"], recorded["num_layers"], recorded["num_heads"],
          recorded["d_ff"], recorded["kind"]) == ("cpu_s", 32, 2, 4, 256, "bert")
  run = rundir.RunDir(str(tmp_path))
  assert summary["num_params"] == models.count_params(run.params(4)) == models.bert_param_count(
      run.language.vocab_size, run.max_length, 32, 2, 4, 256)


def _seed_configs(n=2, algorithm="standard"):
  config = tiny.get_config()
  # 4 steps in chunks of 1, 1, 2 (log-spaced checkpoints at 1, 2, 4): two compiled chunk lengths per program.
  config.train.num_steps, config.eval.every, config.checkpoint.every, config.optimizer.warmup_steps = 4, 2, 4, 1
  config.train.steps_per_call = 2
  config.train.algorithm = algorithm
  out = []
  for k in range(n):
    c = arms.replicate_config(config, "arm", k)
    with c.unlocked():
      c.train.vmap_seeds = True
    out.append(c)
  return out


def _eval_rows(workdir):
  return [r for r in jsonio.read_jsonl(os.path.join(workdir, "metrics.jsonl")) if "eval_loss" in r]


@pytest.mark.slow  # 20 s of compilation (a stacked and a single program): in .ci/run's slow step
def test_seeds_trained_as_one_program_record_what_separate_runs_record(tmp_path):
  """train.vmap_seeds: the same checkpoints, evaluations and parameters as each seed trained alone (float32
  rounding apart), each seed in its own run directory."""
  configs = _seed_configs()
  assert configs[0].seed != configs[1].seed
  # Seed 1 alone (the second slot of the stack: a mix-up of slots or keys shows there, or as two equal seeds below).
  alone = {1: train_job.train_and_evaluate(configs[1], str(tmp_path / "alone_1"))}
  group = train_job.train_seed_group(configs, [str(tmp_path / f"group_{k}") for k in range(2)])
  for k in (1,):
    a, g = rundir.RunDir(str(tmp_path / f"alone_{k}")), rundir.RunDir(str(tmp_path / f"group_{k}"))
    assert a.steps() == g.steps() == [0, 1, 2, 4]
    for x, y in zip(jax.tree.leaves(a.params(4)), jax.tree.leaves(g.params(4))):
      np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)
    ra, rg = _eval_rows(str(tmp_path / f"alone_{k}")), _eval_rows(str(tmp_path / f"group_{k}"))
    assert [r["step"] for r in ra] == [r["step"] for r in rg] == [0, 1, 2, 4]
    np.testing.assert_allclose([r["eval_loss"] for r in rg], [r["eval_loss"] for r in ra], rtol=1e-5)
    np.testing.assert_allclose(group[k]["final_gap"], alone[k]["final_gap"], rtol=1e-4, atol=1e-6)
    assert json.load(open(tmp_path / f"group_{k}" / "config.json"))["seed"] == configs[k].seed
  # The two seeds trained differently (a group that trained one seed twice would fail here).
  g0, g1 = (rundir.RunDir(str(tmp_path / f"group_{k}")).params(4) for k in range(2))
  assert not np.allclose(jax.tree.leaves(g0)[0], jax.tree.leaves(g1)[0])
  # Finished: a second call changes nothing and returns the recorded summaries.
  assert train_job.train_seed_group(configs, [str(tmp_path / f"group_{k}") for k in range(2)]) == group


def test_seeds_that_cannot_share_a_program_train_one_after_the_other(tmp_path):
  configs = _seed_configs()
  assert seed_group.why_not(configs[:1], 1, 1) == "fewer than 2 seeds"
  assert "4 devices" in seed_group.why_not(configs, 4, 1)
  adversarial = [c.copy_and_resolve_references() for c in configs]
  for c in adversarial:
    c.train.algorithm = "adversarial"
  assert "keeps host-side state per seed" in seed_group.why_not(adversarial, 1, 1)
  other = [c.copy_and_resolve_references() for c in configs]
  other[1].train.num_steps = 20
  assert seed_group.why_not(other, 1, 1) == "the runs differ in more than their seed"
