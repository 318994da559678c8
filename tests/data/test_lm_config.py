"""Data configs of kind 'lm': presets, the default token set, and one ValueError per bad field, naming it."""
import numpy as np
import pytest

from experiments.configs import base
from flatness_jax.data import lm_config, make_language


def _config(preset="tiny", **fields):
  d = base.data_config("lm", preset)
  for k, v in fields.items():
    d[k] = v
  return d


def test_tiny_preset_default_token_set_is_the_most_frequent():
  lang = make_language(_config())
  prov = lang.provenance
  assert len(lang.token_ids) == 5 and "most frequent" in prov["selection"]
  counts = np.array(prov["counts"])
  assert np.all(np.diff(counts) <= 0) and counts[-1] > 0  # by decreasing frequency
  assert lang.vocab_size == lang.num_words + 2 == len(lang.token_ids) - lang.eos_in_set + 2
  assert make_language(_config()) is lang  # built once per process for equal configs
  given = make_language(_config(token_ids="8,4,2"))
  assert given.token_ids.tolist() == [8, 4, 2] and given.word_ids.tolist() == [8, 4] and given.eos_in_set
  assert given.provenance["selection"] == "data.token_ids (given)"


@pytest.mark.parametrize("fields, pattern", [
    (dict(num_tokens=1), r"data.num_tokens=1 must be an int >= 2"),
    (dict(num_tokens=9), r"data.num_tokens=9 must be below the decoder's vocabulary 9"),
    (dict(max_length=-3), r"data.max_length=-3 must be an int >= 1"),
    (dict(max_length=8), r"data.max_length=8 after prompts of 2 tokens needs 11 positions"),
    (dict(num_prompts=-1), r"data.num_prompts=-1 must be an int >= 1"),
    (dict(prompt_length=-2), r"data.prompt_length=-2 must be an int >= 0"),
    (dict(num_prompts=40, prompt_length=1), r"data.num_prompts=40: prompts of 1 tokens drawn with seed 0 coincide"),
    (dict(temperature=-1.0), r"data.temperature=-1.0 must be a number > 0"),
    (dict(token_ids="3,x"), r"data.token_ids='3,x' must be comma-separated"),
    (dict(token_ids="3,3"), r"data.token_ids must list at least 2 distinct ids"),
    (dict(token_ids="3,1"), r"data.token_ids: \[1\] are outside \[0, 9\) or the PAD id 1"),
    (dict(token_ids="3,4", num_tokens=3), r"data.num_tokens=3 disagrees with the 2 ids of data.token_ids"),
    (dict(frequency_sentences=-1), r"data.frequency_sentences=-1 must be an int >= 1"),
    (dict(checkpoint="/x"), r"data.checkpoint='/x' is set but data.preset='tiny' is a random decoder"),
    (dict(preset="paper"), r"data.checkpoint is required with data.preset='paper'"),
    (dict(preset="paper", checkpoint="/no/such/dir"), r"checkpoint directory '/no/such/dir' does not exist"),
    (dict(preset="opt"), r"unknown data.preset='opt' for data.kind='lm'"),
    (dict(grammar_path="/g.txt"), r"data.grammar_path is only meaningful for data.kind='pcfg'"),
])
def test_bad_fields_name_the_field(fields, pattern):
  with pytest.raises((ValueError, FileNotFoundError), match=pattern):
    make_language(_config(**fields))


def test_prompts_of_the_preset_and_of_the_fields():
  lang = make_language(_config())
  assert lang.prompts.ids.shape == (2, 2) and set(lang.tasks) >= {"prompt"}
  assert not np.isin(lang.prompts.ids, [1, 2]).any()  # neither PAD nor BOS/EOS
  assert "2 prompts of 2 decoder ids" in lang.provenance["prompts"]
  plain = make_language(_config(num_prompts=1, prompt_length=1))  # one fixed prefix: nothing to recover
  assert plain.prompts.ids.shape == (1, 1) and "prompt" not in plain.tasks
  with pytest.raises(ValueError, match=r"data.num_prompts=3 needs data.prompt_length >= 1"):
    lm_config.resolve(_config("paper", num_prompts=3), require_checkpoint=False)


def test_shape_needs_no_weights():
  assert lm_config.shape(_config("paper")) == (2002, 24)
  cfg = lm_config.decoder_shape(_config("paper"))
  assert (cfg.num_layers, cfg.hidden_size, cfg.vocab_size) == (12, 768, 50272)
