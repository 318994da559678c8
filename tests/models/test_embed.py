"""Function-preserving embedding (Net2Net-style) of a small BertMLM into larger architectures, in float64."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flatness_jax import models

V, L = 12, 6
SMALL = dict(d_model=8, num_layers=1, num_heads=2, d_ff=16)


def _config(**kw):
  c = models.default_model_config()
  c.update(kw)
  return c


def _model(c):
  return models.make_model(c, V, L, param_dtype=jnp.float64).clone(dtype=jnp.float64)


def _apply(model, params, *args, **kw):
  """One compile per model (float64 op-by-op dispatch would compile each small op for each new shape)."""
  return jax.jit(lambda p, *a: model.apply({"params": p}, *a, **kw))(params, *args)


def _small_params(c, seed):
  """Random params of the small model, generic enough that every LayerNorm scale/bias and bias matters
  (N(0, 0.3^2), LayerNorm scales 1 + N(0, 0.3^2)); drawn in numpy from the abstract init (nothing compiles)."""
  tok = jnp.zeros((1, L), jnp.int32)
  shapes = nn.unbox(jax.eval_shape(_model(c).init, jax.random.key(0), tok, jnp.zeros((1,), jnp.int32)))["params"]
  rng = np.random.default_rng(seed)
  return jax.tree_util.tree_map_with_path(
      lambda path, x: jnp.asarray((path[-1].key == "scale") + 0.3 * rng.standard_normal(x.shape)), shapes)


def _inputs():
  tok = jax.random.randint(jax.random.key(7), (3, L), 0, V + 2)
  tok = jnp.where(jnp.arange(L)[None] < jnp.array([[6], [4], [2]]), tok, V)  # PAD after the lengths
  return tok, jnp.array([[0, 5], [1, 3], [0, 1]])


@pytest.mark.parametrize("small,large,tie", [
    (SMALL, dict(SMALL, d_ff=27), True),                                        # FFN width
    (dict(SMALL, head_dim=4), dict(SMALL, num_heads=5, head_dim=4), False),     # heads at fixed d_model
    (SMALL, dict(SMALL, d_model=24, num_heads=6), True),                        # d_model x3 (and heads x3)
    (SMALL, dict(SMALL, d_model=24, num_heads=6), False),                       # untied output projection
    (dict(SMALL, num_layers=2), dict(SMALL, num_layers=5), True),                # depth
    (dict(SMALL, head_dim=4, scan_layers=True),                                 # all at once, scanned layouts
     dict(d_model=16, num_layers=3, num_heads=5, head_dim=4, d_ff=40, scan_layers=True), False),
], ids=["ffn", "heads", "d_model", "d_model_untied", "depth", "combined"])
def test_embedding_preserves_logits(x64, small, large, tie):
  check_preserves_logits(_config(tie_embeddings=tie, **small), _config(tie_embeddings=tie, **large))


def check_preserves_logits(small, large):
  """Embeds random small params into `large` and checks the param shapes and the logits (1e-5, float64);
  returns (small params, embedded params, large model, tokens)."""
  params = _small_params(small, 0)
  big = models.embed_params(params, small, large, jax.random.key(1))
  tok, pos = _inputs()
  big_model = _model(large)
  expected_tree = jax.eval_shape(big_model.init, jax.random.key(0), tok, pos[:, 0])["params"]
  assert jax.tree.map(lambda x: x.shape, nn.unbox(expected_tree)) == jax.tree.map(lambda x: x.shape, big)
  want = _apply(_model(small), params, tok, pos)
  got = _apply(big_model, big, tok, pos)
  assert got.dtype == jnp.float64
  np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
  assert models.count_params(big) > models.count_params(params)
  return params, big, big_model, tok


def test_d_model_growth_tiles_features(x64):
  small, large = _config(**SMALL), _config(**dict(SMALL, d_model=16, num_heads=4))
  params = _small_params(small, 2)
  big = models.embed_params(params, small, large, jax.random.key(3))
  tok, _ = _inputs()
  feats = _apply(_model(small), params, tok, method="features")
  np.testing.assert_allclose(_apply(_model(large), big, tok, method="features"),
                             jnp.concatenate([feats, feats], axis=-1), atol=1e-10)


@pytest.mark.parametrize("large,match", [
    (dict(SMALL, d_model=12, num_heads=3), "integer factor"),
    (dict(SMALL, num_heads=4), "per-head width"),
    (dict(SMALL, d_ff=8), "d_ff cannot shrink"),
    (dict(SMALL, num_layers=0), "num_layers"),
    (dict(SMALL, kind="lstm"), "bert into bert or lstm into lstm"),
    (dict(SMALL, tie_embeddings=False), "tie_embeddings"),
])
def test_unsupported_growth_raises(large, match):
  with pytest.raises(ValueError, match=match):
    models.check_embeddable(_config(**SMALL), _config(**large))
