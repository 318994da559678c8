"""The train job records the config that trains: the model preset expanded, explicit fields kept over it."""
import json

from experiments.configs import tiny
from flatness_jax import models
from flatness_jax.jobs import train as train_job
from flatness_jax.rundir import rundir


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
