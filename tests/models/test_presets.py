"""Presets, config resolution and validation, the factory and closed-form parameter counts."""
import jax
import jax.numpy as jnp
import pytest

from flatness_jax import models
from flatness_jax.models import presets


def _config(**kw):
  c = models.default_model_config()
  c.update(kw)
  return c


def _abstract_count(model, max_length):
  """Parameter count from jax.eval_shape(init): shapes only, no memory, no compile."""
  tok = jnp.zeros((1, max_length), jnp.int32)
  return models.count_params(jax.eval_shape(model.init, jax.random.key(0), tok, jnp.zeros((1,), jnp.int32)))


def _formula(c, vocab_size, max_length):
  if c.kind == "lstm":
    return models.lstm_param_count(vocab_size, c.d_model, c.num_layers, c.tie_embeddings)
  return models.bert_param_count(vocab_size, max_length, c.d_model, c.num_layers, c.num_heads, c.d_ff,
                                 c.head_dim, c.tie_embeddings)


# The 235M preset at V=200, L=32: hidden 1024, 16 layers, 16 heads, FFN 4096 (the paper's largest BERT).
BERT_235M_V200_L32 = 202_835_144


@pytest.mark.parametrize("preset", ["bert_235m", "bert_4m", "cpu_s", "cpu_tiny", "lstm_cpu_s", "lstm_10m"])
def test_preset_param_counts_match_closed_form(preset):
  for vocab_size, max_length in ((200, 32), (50, 16)):
    c = models.resolve_model_config(_config(preset=preset))
    model = models.make_model(c, vocab_size, max_length)
    assert _abstract_count(model, max_length) == _formula(c, vocab_size, max_length)
  if preset == "bert_235m":
    assert _formula(c, 200, 32) == BERT_235M_V200_L32


def test_all_presets_formula_and_paper_labels():
  labels = {"bert_4m": 4.3e6, "bert_9m": 9.5e6, "bert_17m": 16.9e6, "bert_35m": 35e6, "bert_67m": 67e6,
            "bert_135m": 135e6, "bert_235m": 235e6, "bert_730m": 730e6}
  for name, label in labels.items():
    assert abs(models.paper_param_count(name) / label - 1) < 0.035, name
  for name in models.PRESETS:
    models.validate_model_config(_config(preset=name), 200, 32)


@pytest.mark.parametrize("tie,head_dim,scan", [(False, 0, False), (True, 12, True)])
def test_variants_param_counts(tie, head_dim, scan):
  c = _config(d_model=32, num_layers=3, num_heads=4, head_dim=head_dim, d_ff=48, tie_embeddings=tie,
              scan_layers=scan)
  assert _abstract_count(models.make_model(c, 30, 10), 10) == _formula(c, 30, 10)


def test_preset_resolution_and_overrides():
  c = models.resolve_model_config(_config(preset="bert_235m"))
  assert (c.d_model, c.num_layers, c.num_heads, c.d_ff, c.preset) == (1024, 16, 16, 4096, "bert_235m")
  assert models.resolve_model_config(c) == c
  c = models.resolve_model_config(_config(preset="bert_235m", num_layers=4, dtype="bfloat16"))
  assert (c.d_model, c.num_layers, c.dtype) == (1024, 4, "bfloat16")
  assert isinstance(models.make_model(_config(preset="lstm_cpu_s"), 50, 16), models.BiLSTMMLM)
  model = models.make_model(_config(preset="cpu_s", dtype="bfloat16"), 50, 16)
  assert isinstance(model, models.BertMLM) and model.dtype == jnp.bfloat16 and model.d_model == 64


def test_size_fields_start_unset_and_an_explicit_value_wins_even_when_it_equals_the_default():
  """The old rule (a field still equal to its default took the preset's value) made d_ff=256 under cpu_m train 512."""
  c = models.default_model_config()
  assert [c[k] for k in presets.SIZE_DEFAULTS] == [None] * len(presets.SIZE_DEFAULTS)
  assert models.resolve_model_config(c).to_dict() == {**c.to_dict(), **presets.SIZE_DEFAULTS}
  c = models.resolve_model_config(_config(preset="cpu_m", d_ff=256, num_layers=2))
  assert (c.d_model, c.num_layers, c.num_heads, c.d_ff) == (128, 2, 4, 256)
  lstm = models.resolve_model_config(_config(preset="lstm_cpu_xs"))  # kind from the preset, unused fields defaulted
  assert (lstm.kind, lstm.d_model, lstm.num_heads, lstm.d_ff) == ("lstm", 32, 4, 256)
  record = dict(_config(preset="cpu_m", d_model=64).to_dict())  # a config.json written before resolution: None
  assert models.make_model(record, 50, 16).d_model == 64
  resolved = models.resolve_model_config(record)
  assert models.make_model(resolved, 50, 16).d_ff == models.make_model(record, 50, 16).d_ff == 512


def test_an_explicit_kind_that_contradicts_the_preset_is_named():
  with pytest.raises(ValueError, match="model.kind='lstm' contradicts model.preset='cpu_s'"):
    models.make_model(_config(kind="lstm", preset="cpu_s"), 50, 16)
  assert models.resolve_model_config(_config(kind="lstm", preset="lstm_cpu_s")).kind == "lstm"


@pytest.mark.parametrize("overrides,field", [
    (dict(d_model=30, num_heads=4), "d_model"),
    (dict(kind="gru"), "kind"),
    (dict(preset="bert_huge"), "preset"),
    (dict(dtype="float16"), "dtype"),
    (dict(num_layers=0), "num_layers"),
    (dict(d_ff=-1), "d_ff"),
    (dict(num_heads=0), "num_heads"),
    (dict(head_dim=-2), "head_dim"),
    (dict(dropout=1.0), "dropout"),
    (dict(tie_embeddings="yes"), "tie_embeddings"),
])
def test_validation_names_the_field(overrides, field):
  with pytest.raises(ValueError, match=f"model.{field}"):
    models.validate_model_config(dict(models.default_model_config(), **overrides), 50, 16)


def test_validation_of_sizes_and_unknown_fields():
  with pytest.raises(ValueError, match="vocab_size"):
    models.make_model(_config(), 0, 16)
  with pytest.raises(ValueError, match="max_length"):
    models.make_model(_config(), 50, -3)
  with pytest.raises(ValueError, match="d_mdoel"):
    models.validate_model_config(dict(_config(), d_mdoel=3), 50, 16)
  models.validate_model_config(_config(kind="lstm", num_heads=3, d_model=64), 50, 16)  # heads unused by lstm
