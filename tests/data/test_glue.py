"""GLUE QNLI / SST-2 for the LM language, offline (tfds.testing.mock_data): splits, tokenisation into S with UNK
and SEP, truncation, out-of-set rates, bytes vs str, the checkpoint's own tokenizer, one-line unavailability."""
import json
import os

import jax
import numpy as np
import pytest

from experiments.configs import base
from flatness_jax.data import glue, make_language, task_data, text_tokenizer
from flatness_jax.decoder import hf_checkpoint

tfds = pytest.importorskip("tensorflow_datasets")
pytest.importorskip("array_record")

LETTERS = [ord(c) + text_tokenizer.BYTE_OFFSET for c in "abcde "]  # mock GLUE text is letters a..j and spaces


def byte_language(**fields):
  d = base.data_config("lm", "cpu")
  d.num_tokens, d.max_length, d.frequency_sentences = 8, 6, 200
  d.token_ids = ",".join(str(i) for i in LETTERS + [2, 150])  # 'a'..'e', ' ', EOS and one random byte
  for k, v in fields.items():
    d[k] = v
  return make_language(d)


def expected_words(lang, text):
  ids = [b + text_tokenizer.BYTE_OFFSET for b in text.encode()]
  return [int(lang.word_of_decoder_id[i]) for i in ids]


@pytest.mark.parametrize("name", ["qnli", "sst2"])
def test_task_data_from_mock_glue(name):
  lang = byte_language(num_tokens=0)
  with tfds.testing.mock_data(num_examples=12):
    data = task_data.task_dataset(lang, name, 40, seed=3)  # 40 > 12: all of the mock train split
    train_src = glue.data_source(name, "train")
    test_src = glue.data_source(name, "validation")
    first_test = [test_src[i] for i in range(len(test_src))]
    train_all = [train_src[i] for i in range(len(train_src))]
  train, select, test = data.split
  assert (len(train), len(select), len(test)) == (10, 2, 12)  # 7/8 train, 1/8 selection; test = validation
  assert data.bayes_predictions is None and data.num_classes == 2
  fields = glue.TASKS[name][0]
  for i, ex in zip(test, first_test):
    words = expected_words(lang, ex[fields[0]])
    if name == "qnli":
      words = words + [lang.sep_id] + expected_words(lang, ex[fields[1]])
    words = words[:lang.max_length] or [lang.unk_id]
    assert data.lengths[i] == len(words) and data.tokens[i, :len(words)].tolist() == words
    assert np.all(data.tokens[i, len(words):] == -1)
    assert data.labels[i] == int(ex["label"])
  assert sorted(data.labels[train].tolist() + data.labels[select].tolist()) == sorted(
      int(ex["label"]) for ex in train_all)
  stats = data.info["test (GLUE validation)"]
  kept = data.tokens[test][data.tokens[test] >= 0]
  assert stats["out_of_set_rate"] == pytest.approx(np.mean(kept == lang.unk_id))
  assert 0 < stats["out_of_set_rate"] < 1  # letters f..j are outside S, a..e inside
  assert stats["truncated_fraction"] > 0 and stats["examples"] == 12


def test_bytes_and_str_fields_encode_alike():
  lang = byte_language()
  tok = text_tokenizer.BytesTokenizer()
  as_str = glue.encode(lang, tok, [{"sentence": "abc"}, {"sentence": ""}], ("sentence",))
  as_bytes = glue.encode(lang, tok, [{"sentence": b"abc"}, {"sentence": np.array(b"")}], ("sentence",))
  for a, b in zip(as_str, as_bytes):
    assert (a == b) if isinstance(a, dict) else np.array_equal(a, b)
  assert as_str[1].tolist() == [3, 1]  # an empty text is one UNK
  assert as_str[0][1, 0] == lang.unk_id


def test_checkpoint_tokenizer_and_paper_preset(tmp_path):
  tokenizers = pytest.importorskip("tokenizers")
  pytest.importorskip("safetensors")
  bpe = tokenizers.ByteLevelBPETokenizer()
  bpe.train_from_iterator(["abc de fgh ij " * 20, "jihg fed cba"], vocab_size=300, min_frequency=1,
                          special_tokens=["<s>", "<pad>", "</s>", "<unk>"])
  path = str(tmp_path / "opt")
  cfg = hf_checkpoint.config_from_hf(dict(vocab_size=bpe.get_vocab_size(), hidden_size=16, num_hidden_layers=1,
                                           num_attention_heads=2, ffn_dim=32, max_position_embeddings=16))
  params = jax.tree.map(lambda x: 0.2 * np.random.default_rng(0).standard_normal(x.shape),
                        hf_checkpoint.abstract_params(cfg))
  hf_checkpoint.save_opt(path, cfg, params)
  bpe.save_model(path)  # vocab.json + merges.txt, as OPT's released checkpoints
  d = base.data_config("lm", "paper")
  d.checkpoint, d.num_tokens, d.max_length, d.frequency_sentences = path, 30, 8, 300
  lang = make_language(d)
  assert lang.provenance["decoder"].startswith("checkpoint") and len(lang.token_ids) == 30
  with tfds.testing.mock_data(num_examples=6):
    data = task_data.task_dataset(lang, "sst2", 6, seed=0)
    src = glue.data_source("sst2", "validation")
    text = src[0]["sentence"]
  ids = bpe.encode(text).ids
  words = [int(lang.word_of_decoder_id[i]) for i in ids][:lang.max_length]
  i = data.split[2][0]
  assert data.tokens[i, :len(words)].tolist() == words
  assert "byte-level BPE" in data.info["tokenizer"]
  os.remove(os.path.join(path, "vocab.json"))
  lang2 = make_language(dict(d.to_dict(), max_length=7))
  with pytest.raises(task_data.TaskUnavailableError, match="no tokenizer files"):
    task_data.task_dataset(lang2, "qnli", 6, 0)


def test_unprepared_glue_is_one_clear_line(tmp_path):
  lang = byte_language(glue_dir=str(tmp_path))
  with pytest.raises(task_data.TaskUnavailableError) as info:
    task_data.task_dataset(lang, "sst2", 10, 0)
  message = str(info.value)
  assert "\n" not in message and "tfds build glue/sst2" in message and str(tmp_path) in message
  assert not os.listdir(tmp_path)  # nothing was written there
  tiny = make_language(base.data_config("lm", "tiny"))
  with pytest.raises(task_data.TaskUnavailableError, match="has no tokenizer"):
    task_data.task_dataset(tiny, "qnli", 10, 0)

