"""BertMLM: shapes, masked-position head, PAD masking, layouts, logical axis names, sharded lookup."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flatness_jax import models
from tests.conftest import run_python

V, L = 20, 8


def _model(**kw):
  return models.BertMLM(vocab_size=V, max_length=12, d_model=16, num_layers=2, num_heads=2, d_ff=32, **kw)


def _tokens(key, batch=4, length=L, lengths=(8, 5, 3, 1)):
  """Random words (MASK included) with PAD after each row's length."""
  tok = jax.random.randint(key, (batch, length), 0, V + 2)
  tok = jnp.where(tok == V, V + 1, tok)
  return jnp.where(jnp.arange(length)[None] < jnp.array(lengths)[:, None], tok, V)


def _init(model, seed=0):
  """Random params N(0, 0.2^2) (LayerNorm scales 1 + N(0, 0.2^2)) drawn in numpy from the abstract init:
  generic values and nothing to compile (a real init compiles a threefry per parameter shape)."""
  shapes = nn.unbox(jax.eval_shape(model.init, jax.random.key(0), _tokens(jax.random.key(0)),
                                   jnp.zeros((4,), jnp.int32)))
  rng = np.random.default_rng(seed)
  return jax.tree_util.tree_map_with_path(
      lambda path, x: jnp.asarray((path[-1].key == "scale") + 0.2 * rng.standard_normal(x.shape), x.dtype), shapes)


POS1 = np.array([0, 4, 2, 0])
POSK = np.array([[0, 7], [1, 4], [2, 0], [0, 0]])


@functools.partial(jax.jit, static_argnums=(0, 3))
def _outputs(model, params, tokens, which=("one", "many", "features", "mean", "first", "full")):
  """The outputs a test looks at, under one jit per (model, shape, which): cheaper than op-by-op dispatch.
  'full' is the slow reference: the MLM head applied to every token's features, [B, L, V]."""
  apply = functools.partial(model.apply, {"params": params})
  fns = dict(one=lambda: apply(tokens, POS1), many=lambda: apply(tokens, POSK),
             features=lambda: apply(tokens, method="features"),
             mean=lambda: apply(tokens, method=models.BertMLM.pooled),
             first=lambda: apply(tokens, method="pooled", how="first"),
             full=lambda: apply(tokens, method=lambda m, t: m.head(m.features(t), m.token_embed.embedding)))
  return {k: fns[k]() for k in which}


@pytest.mark.parametrize("tie", [True, False])
def test_shapes_and_masked_positions_only(tie):
  model = _model(tie_embeddings=tie)
  params = _init(model)["params"]
  which = ("one", "many", "features", "mean", "first", "full") if tie else ("one", "many", "full")
  out = _outputs(model, params, _tokens(jax.random.key(1)), which)
  assert out["one"].shape == (4, V) and out["many"].shape == (4, 2, V) and out["one"].dtype == jnp.float32
  np.testing.assert_allclose(out["one"], out["full"][jnp.arange(4), POS1], atol=1e-5)
  np.testing.assert_allclose(out["many"], jnp.take_along_axis(out["full"], POSK[..., None], axis=1), atol=1e-5)
  if tie:
    assert out["features"].shape == (4, L, 16) and out["mean"].shape == out["first"].shape == (4, 16)
    np.testing.assert_allclose(out["first"], out["features"][:, 0])
  assert ("output" in params["head"]) == (not tie)


@pytest.mark.parametrize("layers", [1, 3])
def test_last_block_at_the_masked_rows_only_is_the_same_function(layers):
  """__call__ runs the last block's queries and FFN at the gathered positions only: same logits as the head on
  every token's features, for one block (no full blocks before it) and several, duplicate positions included."""
  model = models.BertMLM(vocab_size=V, max_length=12, d_model=16, num_layers=layers, num_heads=2, d_ff=32)
  params = _init(model)["params"]
  out = _outputs(model, params, _tokens(jax.random.key(2)), ("one", "many", "full"))
  np.testing.assert_allclose(out["one"], out["full"][jnp.arange(4), POS1], atol=1e-5)
  np.testing.assert_allclose(out["many"], jnp.take_along_axis(out["full"], POSK[..., None], axis=1), atol=1e-5)


def test_pad_keys_do_not_influence_real_tokens():
  model = _model()
  params = _init(model)["params"]
  lengths = jnp.array([8, 5, 3, 1])
  tok = _tokens(jax.random.key(1))
  real = (jnp.arange(L)[None] < lengths[:, None])[..., None]
  feats = _outputs(model, params, tok)["features"]
  # More padding (longer rows) changes nothing at real positions.
  longer = jnp.concatenate([tok, jnp.full((4, 4), V, jnp.int32)], axis=1)
  feats_longer = _outputs(model, params, longer, ("features",))["features"][:, :L]
  np.testing.assert_allclose(jnp.where(real, feats_longer, 0), jnp.where(real, feats, 0), atol=1e-5)
  # A different PAD embedding changes nothing at real positions either.
  p2 = jax.tree.map(lambda x: x, params)
  p2["token_embed"]["embedding"] = params["token_embed"]["embedding"].at[V].set(5.0)
  feats2 = _outputs(model, p2, tok)["features"]
  np.testing.assert_allclose(jnp.where(real, feats2, 0), jnp.where(real, feats, 0), atol=1e-5)
  assert not np.allclose(jnp.where(real, 0, feats2), jnp.where(real, 0, feats))  # the perturbation reaches PADs
  # The mean pooling averages real tokens only.
  mean = _outputs(model, params, tok)["mean"]
  np.testing.assert_allclose(mean, jnp.where(real, feats, 0).sum(1) / lengths[:, None], atol=1e-5)


def test_scan_layers_matches_unrolled():
  unrolled, scanned = _model(), _model(scan_layers=True)
  params = _init(unrolled)["params"]
  stacked = models.stack_layers(params)
  assert jax.tree.structure(stacked) == jax.tree.structure(_init(scanned)["params"])
  tok = _tokens(jax.random.key(1))
  want = _outputs(unrolled, params, tok)["many"]
  np.testing.assert_allclose(_outputs(scanned, stacked, tok, ("many",))["many"], want, atol=1e-5)
  back = models.unstack_layers(stacked)
  assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params)))


@pytest.mark.parametrize("scan", [False, True])
def test_logical_axis_names(scan):
  model = _model(scan_layers=scan, tie_embeddings=False)
  boxed = jax.eval_shape(model.init, jax.random.key(0), _tokens(jax.random.key(0)), jnp.zeros((4,), jnp.int32))
  specs = nn.get_partition_spec(boxed)["params"]
  plain = nn.unbox(boxed)["params"]
  allowed = {None, "vocab", "embed", "mlp", "heads", "kv", "layers"}
  leaves = jax.tree.leaves(plain)
  spec_leaves = jax.tree.leaves(specs, is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))
  assert len(leaves) == len(spec_leaves)
  for x, spec in zip(leaves, spec_leaves):
    assert isinstance(x, jax.ShapeDtypeStruct) and len(spec) == x.ndim and set(spec) <= allowed
  assert specs["token_embed"]["embedding"] == jax.sharding.PartitionSpec("vocab", "embed")
  layer = specs["layers"] if scan else specs["layers_0"]
  assert layer["attn"]["query"]["kernel"] == jax.sharding.PartitionSpec(
      *((("layers",) if scan else ()) + ("embed", "heads", "kv")))


def test_real_init_unboxes_to_plain_arrays():
  model = models.BertMLM(vocab_size=V, max_length=L, d_model=8, num_layers=1, num_heads=2, d_ff=8)
  boxed = jax.jit(model.init)(jax.random.key(0), _tokens(jax.random.key(0)), jnp.zeros((4,), jnp.int32))
  assert any(isinstance(x, nn.LogicallyPartitioned)
             for x in jax.tree.leaves(boxed, is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned)))
  plain = nn.unbox(boxed)["params"]
  assert all(type(x) is type(jnp.zeros(1)) for x in jax.tree.leaves(plain))
  assert float(jnp.std(plain["layers_0"]["mlp"]["wi"]["kernel"])) == pytest.approx(0.02, rel=0.3)
  assert float(jnp.abs(plain["layers_0"]["mlp"]["wi"]["bias"]).max()) == 0.0


def test_bfloat16_gives_float32_logits():
  model = _model(dtype=jnp.bfloat16)
  tok, pos = _tokens(jax.random.key(4)), jnp.array([0, 1, 2, 0])
  variables = jax.eval_shape(model.init, jax.random.key(0), tok, pos)  # shapes only: no compile
  params = nn.unbox(variables)["params"]
  assert params["head"]["output_bias"].dtype == jnp.float32
  assert jax.eval_shape(lambda p: model.apply({"params": p}, tok, pos), params).dtype == jnp.float32


def test_dropout_only_when_training():
  model = _model(dropout=0.5)
  params = _init(model)["params"]
  tok = _tokens(jax.random.key(1))
  apply = lambda p, k, train: model.apply({"params": p}, tok, POS1, train=train, rngs={"dropout": k})
  # One compile for both modes; an 'rbg' key compiles far faster than threefry on CPU.
  train_logits, eval_logits = jax.jit(lambda p, k: (apply(p, k, True), apply(p, k, False)))(
      params, jax.random.key(0, impl="rbg"))
  assert not np.allclose(train_logits, eval_logits)
  np.testing.assert_allclose(_outputs(_model(), params, tok)["one"], eval_logits, atol=1e-6)  # no dropout


def test_sharded_lookup_matches_single_device():
  """4 simulated devices, Auto-axis mesh, params sharded by a logical-axis table, batch-sharded ids."""
  run_python("""
    import flax.linen as nn, jax, jax.numpy as jnp, numpy as np
    from flatness_jax import models
    model = models.BertMLM(vocab_size=20, max_length=8, d_model=16, num_layers=1, num_heads=2, d_ff=32)
    rng = np.random.default_rng(0)
    tok = jnp.asarray(rng.integers(0, 22, (8, 8)), jnp.int32)
    pos = jnp.arange(8) % 8
    boxed = jax.eval_shape(model.init, jax.random.key(0), tok, pos)
    params = jax.tree.map(lambda x: jnp.asarray(0.2 * rng.standard_normal(x.shape), x.dtype), nn.unbox(boxed))
    ref = jax.jit(model.apply)(params, tok, pos)
    auto = jax.sharding.AxisType.Auto
    mesh = jax.make_mesh((2, 2), ("data", "model"), axis_types=(auto, auto))  # jax 0.10 defaults to Explicit
    rules = (("vocab", "model"), ("mlp", "model"), ("heads", "model"), ("embed", None), ("kv", None))
    shardings = nn.logical_to_mesh_sharding(nn.get_partition_spec(boxed), mesh, rules)
    params = jax.device_put(params, shardings)
    assert params["params"]["token_embed"]["embedding"].sharding.spec == jax.sharding.PartitionSpec("model", None)
    batch = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    out = jax.jit(model.apply)(params, jax.device_put(tok, batch), jax.device_put(pos, batch))
    np.testing.assert_allclose(out, ref, atol=1e-5)
  """, devices=4)
