"""The masked-LM objective: per-slot −log softmax at the targets; BERT masking averages over used slots."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flatness_jax import data as data_lib, models
from flatness_jax.train import objective

LANG = data_lib.make_language({"kind": "pcfg", "preset": "tiny", "seed": 0})
MODEL = models.make_model({"preset": "cpu_tiny"}, LANG.vocab_size, LANG.max_length)


def _params():
  tok = jnp.zeros((1, LANG.max_length), jnp.int32)
  return nn.unbox(MODEL.init(jax.random.key(0), tok, jnp.zeros((1,), jnp.int32))["params"])


def _sample(n=12):
  s = LANG.sample(0, n)
  return jnp.asarray(s.tokens), jnp.asarray(s.lengths)


@pytest.mark.parametrize("masking", objective.MASKINGS)
def test_loss_is_the_mean_negative_log_likelihood_of_the_masked_targets(masking):
  params = _params()
  tokens, lengths = _sample()
  batch = objective.make_batch(jax.random.key(1), tokens, lengths, LANG.vocab_size, masking)
  logits = MODEL.apply({"params": params}, batch["inputs"], batch["positions"])
  logp = np.asarray(jax.nn.log_softmax(logits.astype(jnp.float32)))
  nll = -np.take_along_axis(logp, np.asarray(batch["targets"])[..., None], -1)[..., 0]
  np.testing.assert_allclose(np.asarray(objective.per_example_nll(MODEL, params, batch)), nll, rtol=1e-5)
  w = np.asarray(batch.get("weights", np.ones_like(nll)))
  np.testing.assert_allclose(float(objective.mlm_loss(MODEL, params, batch)), (nll * w).sum() / w.sum(), rtol=1e-5)
  fn = objective.loss_fn_for(MODEL)
  np.testing.assert_allclose(float(fn(params, batch)), float(objective.mlm_loss(MODEL, params, batch)), rtol=1e-6)


def test_logits_fn_is_the_models_logits_at_the_masked_positions():
  params = _params()
  tokens, lengths = _sample()
  batch = objective.make_batch(jax.random.key(2), tokens, lengths, LANG.vocab_size, "one")
  got = objective.logits_fn_for(MODEL)(params, batch)
  np.testing.assert_array_equal(np.asarray(got), np.asarray(MODEL.apply({"params": params}, batch["inputs"],
                                                                          batch["positions"])))


def test_unknown_masking_is_named():
  tokens, lengths = _sample(2)
  with pytest.raises(ValueError, match="train.masking"):
    objective.make_batch(jax.random.key(0), tokens, lengths, LANG.vocab_size, "all")


def test_the_objective_is_the_inference_mode_loss_unless_training_is_asked_for():
  """With dropout in the model, per_example_nll and mlm_loss default to inference mode (deterministic, no rng)."""
  model = models.make_model({"preset": "cpu_tiny", "dropout": 0.5}, LANG.vocab_size, LANG.max_length)
  params = _params()
  tokens, lengths = _sample()
  batch = objective.make_batch(jax.random.key(3), tokens, lengths, LANG.vocab_size, "one")
  logits = model.apply({"params": params}, batch["inputs"], batch["positions"])  # train=False: no dropout
  logp = np.asarray(jax.nn.log_softmax(logits.astype(jnp.float32)))
  nll = -np.take_along_axis(logp, np.asarray(batch["targets"])[..., None], -1)[..., 0]
  np.testing.assert_allclose(np.asarray(objective.per_example_nll(model, params, batch)), nll, rtol=1e-5)
  dropped = objective.per_example_nll(model, params, batch, train=True, rngs={"dropout": jax.random.key(4)})
  assert not np.allclose(np.asarray(dropped), nll)  # the flag matters for this model
