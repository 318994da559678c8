"""BiLSTMMLM: shapes, masked-position head, and padding after each sentence's length changing nothing."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from flatness_jax import models

V, L = 20, 8
LENGTHS = np.array([8, 5, 3, 1])


def _tokens(key, length=L):
  tok = jax.random.randint(key, (4, length), 0, V + 2)
  tok = jnp.where(tok == V, V + 1, tok)
  return jnp.where(jnp.arange(length)[None] < LENGTHS[:, None], tok, V)


def _setup():
  model = models.BiLSTMMLM(vocab_size=V, max_length=12, d_model=8, num_layers=2)
  tok = _tokens(jax.random.key(1))
  shapes = nn.unbox(jax.eval_shape(model.init, jax.random.key(0), tok, jnp.zeros((4,), jnp.int32)))["params"]
  rng = np.random.default_rng(0)  # random params in numpy: generic values, nothing to compile
  params = jax.tree.map(lambda x: jnp.asarray(0.3 * rng.standard_normal(x.shape), x.dtype), shapes)
  return model, params, tok


POSK = np.array([[0, 7], [1, 4], [2, 0], [0, 0]])


@functools.partial(jax.jit, static_argnums=0)
def _outputs(model, params, tokens):
  """One compile per (model, shape); 'full' is the slow reference (head on every token's features)."""
  apply = functools.partial(model.apply, {"params": params})
  feats = apply(tokens, method="features")
  return dict(features=feats, many=apply(tokens, POSK),
              full=apply(feats, method=lambda m, f: m.head(f, m.token_embed.embedding)))


def test_shapes_masked_positions_and_param_count():
  model, params, tok = _setup()
  assert models.count_params(params) == models.lstm_param_count(V, 8, 2)
  out = _outputs(model, params, tok)
  assert out["features"].shape == (4, L, 16) and model.feature_dim == 16 and out["many"].shape == (4, 2, V)
  np.testing.assert_allclose(out["many"], jnp.take_along_axis(out["full"], POSK[..., None], axis=1), atol=1e-5)
  one = jax.eval_shape(lambda p: model.apply({"params": p}, tok, POSK[:, 0]), params)
  pooled = jax.eval_shape(lambda p: model.apply({"params": p}, tok, method="pooled"), params)
  assert one.shape == (4, V) and pooled.shape == (4, 16)


def test_padding_after_length_changes_nothing():
  """Both directions, both layers: the reverse LSTM must start at each sentence's real end."""
  model, params, tok = _setup()
  real = (jnp.arange(L)[None] < LENGTHS[:, None])[..., None]
  feats = _outputs(model, params, tok)["features"]
  longer = jnp.concatenate([tok, jnp.full((4, 4), V, jnp.int32)], axis=1)
  feats_longer = _outputs(model, params, longer)["features"][:, :L]
  np.testing.assert_allclose(jnp.where(real, feats_longer, 0), jnp.where(real, feats, 0), atol=1e-6)
  p2 = jax.tree.map(lambda x: x, params)
  p2["token_embed"]["embedding"] = params["token_embed"]["embedding"].at[V].set(3.0)
  feats2 = _outputs(model, p2, tok)["features"]
  np.testing.assert_allclose(jnp.where(real, feats2, 0), jnp.where(real, feats, 0), atol=1e-6)
  # The perturbation does reach the network (at PAD positions); without seq_lengths the reverse LSTM reads the
  # PAD rows first and the real-position check above fails (verified by removing seq_lengths).
  assert not np.allclose(jnp.where(real, 0, feats2), jnp.where(real, 0, feats))
