"""Function-preserving embedding of a trained BertMLM into a larger BertMLM architecture (and, through
flatness_jax.models.embed_lstm, of a BiLSTMMLM into a wider one).

Liu et al. (2023, §5) compare Hessian traces of models of different sizes "in one parameterization" by embedding
the smaller model into the larger architecture without changing its function; the constructions follow Net2Net
(Chen, Goodfellow, Shlens, ICLR 2016). Given small params θ (config S) we return θ' (config L) with
f_θ'(x) = f_θ(x) for every input (up to rounding):

* FFN width f -> f' >= f (Net2WiderNet). A map g: [f'] -> [f], g(j) = j for j < f and uniformly random
  (from `key`) otherwise; incoming weights and biases are copied, W_i'[:, j] = W_i[:, g(j)], and outgoing rows
  are split evenly among the copies, W_o'[j, :] = W_o[g(j), :] / |g^{-1}(g(j))|. GELU acts per unit, so the sum
  is preserved exactly.
* Attention heads H -> H' >= H at equal head width hd: whole heads are copied the same way (query, key, value
  kernels and biases of head g(j)); duplicated heads produce identical outputs, and W_out rows of head j are
  divided by the number of copies of g(j).
* Residual width d -> k d (integer k only). Every residual coordinate is repeated k times (x' = [x, ..., x]):
  the mean and the (population) variance of x' equal those of x, so every LayerNorm maps tile(x) to tile(LN(x))
  when its scale and bias are tiled. Matrices that read the residual are tiled along their input axis and divided
  by k; matrices and biases that write into it are tiled. The MLM head's LayerNorm scale and bias are also
  divided by k so that the tied projection z' E'^T = sum of k copies of (z/k) E^T = z E^T. Non-integer growth of
  d would duplicate coordinates unevenly and change LayerNorm statistics: it is refused.
* Depth n -> n' >= n. A pre-LN block x + Attn(LN(x)) + Mlp(LN(.)) with zero attention output and zero FFN output
  (kernels and biases) is exactly the identity. Small block i goes to position floor(i n' / n); the other
  positions are freshly initialised blocks of the large architecture (from `key`) with those four tensors zeroed.

The embedded model computes the same logits; its parameters are not a minimiser of anything new, and the choice
of even splitting (rather than random fractions) is the canonical one of Net2Net. Hidden `features` of the
embedded model are the small model's features tiled k times.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from flatness_jax.models import bert
from flatness_jax.models import common
from flatness_jax.models import embed_lstm
from flatness_jax.models import presets


def _widen_d(p, k):
  """Residual width d -> k d for an unrolled, unboxed params tree (see the module docstring)."""
  if k == 1:
    return p
  t = lambda x, axis: embed_lstm.repeat(x, axis, k)
  norm = lambda n, c=1.0: {"scale": t(n["scale"], 0) / c, "bias": t(n["bias"], 0) / c}
  out = {"token_embed": {"embedding": t(p["token_embed"]["embedding"], 1)},
         "position_embedding": t(p["position_embedding"], 1),
         "embed_norm": norm(p["embed_norm"]), "final_norm": norm(p["final_norm"])}
  for name, layer in p.items():
    if not name.startswith("layers_"):
      continue
    attn = {n: {"kernel": t(layer["attn"][n]["kernel"], 0) / k, "bias": layer["attn"][n]["bias"]}
            for n in ("query", "key", "value")}
    attn["out"] = {"kernel": t(layer["attn"]["out"]["kernel"], -1), "bias": t(layer["attn"]["out"]["bias"], 0)}
    mlp = {"wi": {"kernel": t(layer["mlp"]["wi"]["kernel"], 0) / k, "bias": layer["mlp"]["wi"]["bias"]},
           "wo": {"kernel": t(layer["mlp"]["wo"]["kernel"], 1), "bias": t(layer["mlp"]["wo"]["bias"], 0)}}
    out[name] = {"attn_norm": norm(layer["attn_norm"]), "mlp_norm": norm(layer["mlp_norm"]),
                 "attn": attn, "mlp": mlp}
  head = p["head"]
  out["head"] = {"transform": {"kernel": t(t(head["transform"]["kernel"], 0) / k, 1),
                               "bias": t(head["transform"]["bias"], 0)},
                 "norm": norm(head["norm"], k), "output_bias": head["output_bias"]}
  if "output" in head:
    out["head"]["output"] = {"kernel": t(head["output"]["kernel"], 0)}
  return out


def _rng(key):
  """A numpy Generator seeded by a jax key (typed or raw uint32): the embedding is host-side numpy bookkeeping,
  so it triggers no compilation."""
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.key_data(key)
  return np.random.default_rng(np.asarray(key).ravel().tolist())


def _duplication(rng, n_small, n_large):
  """g: [n_large] -> [n_small] (identity on the first n_small, random after) and the copy count of g(j)."""
  g = np.concatenate([np.arange(n_small), rng.integers(0, n_small, n_large - n_small)])
  counts = np.bincount(g, minlength=n_small)[g]
  return g, counts


def _widen_layer(layer, rng, heads, d_ff):
  """Heads H -> heads and FFN f -> d_ff of one block by Net2WiderNet duplication."""
  attn, mlp = layer["attn"], layer["mlp"]
  g, c = _duplication(rng, attn["query"]["kernel"].shape[1], heads)
  new_attn = {n: {"kernel": attn[n]["kernel"][:, g], "bias": attn[n]["bias"][g]} for n in ("query", "key", "value")}
  new_attn["out"] = {"kernel": attn["out"]["kernel"][g] / c[:, None, None],
                     "bias": attn["out"]["bias"]}
  g, c = _duplication(rng, mlp["wi"]["kernel"].shape[1], d_ff)
  new_mlp = {"wi": {"kernel": mlp["wi"]["kernel"][:, g], "bias": mlp["wi"]["bias"][g]},
             "wo": {"kernel": mlp["wo"]["kernel"][g] / c[:, None], "bias": mlp["wo"]["bias"]}}
  return dict(layer, attn=new_attn, mlp=new_mlp)


def _identity_layer(shapes, rng, dtype):
  """A fresh block (BertMLM's init: kernels N(0, 0.02^2), biases 0, LayerNorm scale 1) with zero attention-output
  and FFN-output kernels and biases, i.e. the identity map. `shapes`: the block's ShapeDtypeStruct tree."""
  def init(path, x):
    names = [getattr(e, "key", "") for e in path]
    if names[-1] == "scale":
      return np.ones(x.shape, dtype)
    if names[-1] == "bias" or names[-2] in ("out", "wo"):
      return np.zeros(x.shape, dtype)
    return (common.INIT_STD * rng.standard_normal(x.shape)).astype(dtype)
  return jax.tree_util.tree_map_with_path(init, shapes)


def check_embeddable(small_config, large_config):
  """Resolved (small, large) configs, or ValueError naming what growth is unsupported."""
  s, l = presets.resolve_model_config(small_config), presets.resolve_model_config(large_config)
  if s.kind != l.kind or s.kind not in ("bert", "lstm"):
    raise ValueError(f"embed_params embeds bert into bert or lstm into lstm, got {s.kind!r} -> {l.kind!r}")
  if s.tie_embeddings != l.tie_embeddings:
    raise ValueError("embed_params: tie_embeddings must be the same in both configs")
  if s.kind == "lstm":
    if l.d_model % s.d_model:
      raise ValueError(f"embed_params: an LSTM's d_model must grow by an integer factor ({s.d_model} -> "
                       f"{l.d_model})")
    if l.num_layers != s.num_layers:
      raise ValueError(f"embed_params: an LSTM's num_layers cannot change ({s.num_layers} -> {l.num_layers}): "
                       "no LSTM layer is the identity")
    return s, l
  hd_s, hd_l = s.head_dim or s.d_model // s.num_heads, l.head_dim or l.d_model // l.num_heads
  if hd_s != hd_l:
    raise ValueError(f"embed_params: per-head width must not change (small {hd_s}, large {hd_l}); grow num_heads "
                     "at fixed head_dim (set model.head_dim) or grow d_model and num_heads by the same factor")
  if l.d_model % s.d_model:
    raise ValueError(f"embed_params: d_model must grow by an integer factor ({s.d_model} -> {l.d_model}): "
                     "uneven duplication changes LayerNorm statistics")
  for field in ("num_heads", "d_ff", "num_layers"):
    if l[field] < s[field]:
      raise ValueError(f"embed_params: model.{field} cannot shrink ({s[field]} -> {l[field]})")
  return s, l


def embed_params(small_params, small_config, large_config, key):
  """Parameters of the `large_config` model computing the same function as `small_params` (`small_config`):
  BertMLM into BertMLM (module docstring) or BiLSTMMLM into BiLSTMMLM (flatness_jax.models.embed_lstm).

  Args: small_params: the small model's params (boxed or not, either layer layout); small_config,
  large_config: model ConfigDicts (presets allowed); key: jax.random key choosing duplicated units and
  initialising inserted identity blocks. Vocabulary and max_length are read from the small params.
  Returns: unboxed params in the large config's layout (stacked when large scan_layers=True), with the small
  params' dtype. Raises ValueError on unsupported growth (see `check_embeddable`).
  """
  s, l = check_embeddable(small_config, large_config)
  if s.kind == "lstm":  # flatness_jax.models.embed_lstm: hidden units repeated, no depth growth
    p = jax.tree.map(np.asarray, nn.unbox(small_params))
    dtype = p["token_embed"]["embedding"].dtype
    return jax.tree.map(lambda x: jnp.asarray(x, dtype), embed_lstm.widen(p, l.d_model // s.d_model))
  p = jax.tree.map(np.asarray, bert.unstack_layers(nn.unbox(small_params)))
  dtype = p["position_embedding"].dtype
  rng = _rng(key)
  p = _widen_d(p, l.d_model // s.d_model)
  for i in range(s.num_layers):
    p[f"layers_{i}"] = _widen_layer(p[f"layers_{i}"], rng, l.num_heads, l.d_ff)
  if l.num_layers > s.num_layers:
    vocab_size = p["head"]["output_bias"].shape[0]
    max_length = p["position_embedding"].shape[0]
    large = presets.make_model(dict(l, scan_layers=False, preset=""), vocab_size, max_length)
    dummy = jnp.zeros((1, max_length), jnp.int32)
    shapes = nn.unbox(jax.eval_shape(large.init, jax.random.key(0), dummy, jnp.zeros((1,), jnp.int32)))["params"]
    small_layers = [p.pop(f"layers_{i}") for i in range(s.num_layers)]
    slots = {(i * l.num_layers) // s.num_layers: layer for i, layer in enumerate(small_layers)}
    for j in range(l.num_layers):
      p[f"layers_{j}"] = slots[j] if j in slots else _identity_layer(shapes[f"layers_{j}"], rng, dtype)
  p = jax.tree.map(lambda x: jnp.asarray(x, dtype), p)
  return bert.stack_layers(p) if l.scan_layers else p
