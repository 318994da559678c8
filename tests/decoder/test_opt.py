"""OPT decoder: logits equal Hugging Face OPTForCausalLM's (pre-LN, post-LN, project_in/out, padding), the
incremental path equals the full pass, and checkpoints load from both key prefixes with named errors."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flatness_jax.decoder import hf_checkpoint, opt as decoder

TINY = dict(vocab_size=37, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, ffn_dim=24,
            max_position_embeddings=20)


def _random_params(cfg, seed=0, std=0.3):
  """Generic values for every leaf (LayerNorm scales 1 + noise, biases non-zero), drawn in numpy."""
  rng = np.random.default_rng(seed)
  return jax.tree_util.tree_map_with_path(
      lambda path, x: (path[-1].key == "scale") + std * rng.standard_normal(x.shape),
      hf_checkpoint.abstract_params(cfg))


def _tokens_and_mask(vocab, seed=1):
  """Four rows of 9 tokens: full, right-padded (5 and 1 real tokens) and left-padded (3 real tokens)."""
  rng = np.random.default_rng(seed)
  tokens = rng.integers(0, vocab, (4, 9))
  mask = np.ones((4, 9), np.int64)
  mask[1, 5:] = 0
  mask[2, 1:] = 0
  mask[3, :6] = 0
  return tokens, mask


def _logits(cfg, params, tokens, mask):
  return np.asarray(jax.jit(decoder.Decoder(cfg).apply)({"params": params}, jnp.asarray(tokens), jnp.asarray(mask)))


@pytest.fixture(scope="module")
def torch_and_transformers():
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  return torch, transformers


CASES = {"pre_ln": dict(do_layer_norm_before=True),
         "post_ln": dict(do_layer_norm_before=False),
         "post_ln_projected": dict(do_layer_norm_before=False, word_embed_proj_dim=12),
         "pre_ln_projected_no_final_norm": dict(do_layer_norm_before=True, word_embed_proj_dim=8,
                                                _remove_final_layer_norm=True)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_logits_equal_hugging_face_opt(case, tmp_path, torch_and_transformers):
  torch, transformers = torch_and_transformers
  torch.manual_seed(0)
  config = transformers.OPTConfig(**TINY, **CASES[case], dropout=0.0, attention_dropout=0.0)
  model = transformers.OPTForCausalLM(config).eval()
  with torch.no_grad():  # generic weights: LayerNorm and bias bugs must show
    for p in model.parameters():
      p.add_(0.3 * torch.randn_like(p))
  path = str(tmp_path / case)
  model.save_pretrained(path)  # safetensors (transformers' default)
  assert any(f.endswith(".safetensors") for f in os.listdir(path))
  cfg, params = hf_checkpoint.load_opt(path)
  assert cfg.pre_layer_norm == CASES[case]["do_layer_norm_before"]
  tokens, mask = _tokens_and_mask(TINY["vocab_size"])
  with torch.no_grad():
    ref = model(input_ids=torch.tensor(tokens), attention_mask=torch.tensor(mask)).logits.numpy()
  ours = _logits(cfg, params, tokens, mask)
  real = mask.astype(bool)
  delta = np.abs(ours[real] - ref[real]).max()
  assert delta < 1e-5, (case, delta)  # measured 1.2e-6 .. 2.9e-6 (float32)
  assert np.abs(ref[real]).max() > 1.0  # the comparison is not between near-zero logits


def test_save_opt_round_trips_through_hugging_face(tmp_path, torch_and_transformers):
  torch, transformers = torch_and_transformers
  cfg = hf_checkpoint.config_from_hf(dict(TINY, do_layer_norm_before=False, word_embed_proj_dim=12))
  params = _random_params(cfg)
  hf_checkpoint.save_opt(str(tmp_path), cfg, params)
  model = transformers.OPTForCausalLM.from_pretrained(str(tmp_path)).eval()
  tokens, mask = _tokens_and_mask(cfg.vocab_size, seed=3)
  with torch.no_grad():
    ref = model(input_ids=torch.tensor(tokens), attention_mask=torch.tensor(mask)).logits.numpy()
  real = mask.astype(bool)
  np.testing.assert_allclose(_logits(cfg, params, tokens, mask)[real], ref[real], atol=1e-4, rtol=1e-5)


def test_incremental_forward_equals_full_pass(x64):
  """A prefix's keys/values reused by G candidate suffixes give the full pass's hidden states (float64)."""
  cfg = hf_checkpoint.config_from_hf(dict(TINY, word_embed_proj_dim=12))
  params = _random_params(cfg, seed=2)
  model = decoder.Decoder(cfg, dtype=jnp.float64, param_dtype=jnp.float64)
  apply = jax.jit(lambda *a, **k: model.apply({"params": params}, *a, method="forward", **k))
  rng = np.random.default_rng(0)
  prefix = rng.integers(0, cfg.vocab_size, (2, 4))
  suffixes = rng.integers(0, cfg.vocab_size, (2, 3, 5))  # 3 candidate suffixes of 5 tokens per row
  pos = np.arange(9)
  _, kv = apply(prefix[:, None], np.broadcast_to(pos[:4], (2, 1, 4)), np.ones((2, 1, 4), bool))
  past = [(k[:, 0], v[:, 0]) for k, v in kv]
  past_valid = np.array([[True] * 4, [True, True, False, False]])  # row 1 sees only 2 prefix tokens
  h, _ = apply(suffixes, np.broadcast_to(pos[4:], (2, 3, 5)), np.ones((2, 3, 5), bool), past=past,
               past_valid=past_valid)
  for b, keep in enumerate((4, 2)):
    for g in range(3):
      full = np.concatenate([prefix[b, :keep], suffixes[b, g]])
      positions = np.concatenate([pos[:keep], pos[4:]])
      ref, _ = apply(full[None, None], positions[None, None], np.ones((1, 1, len(full)), bool))
      np.testing.assert_allclose(h[b, g], ref[0, 0, keep:], atol=1e-12)


def test_the_cache_layout_gives_the_same_hidden_states_bit_for_bit():
  """float32: keys [B, H, P, hd] and values [B, H, hd, P] give the [B, P, H, hd] layout's outputs exactly; an
  unknown layout is named."""
  cfg = hf_checkpoint.config_from_hf(TINY)
  params = _random_params(cfg, seed=3)
  model = decoder.Decoder(cfg)
  apply = jax.jit(lambda *a, **k: model.apply({"params": params}, *a, method="forward", **k),
                  static_argnames="past_layout")
  rng = np.random.default_rng(1)
  prefix, suffixes = rng.integers(0, cfg.vocab_size, (3, 5)), rng.integers(0, cfg.vocab_size, (3, 2, 1))
  _, kv = apply(prefix[:, None], np.broadcast_to(np.arange(5), (3, 1, 5)), np.ones((3, 1, 5), bool))
  past = [(k[:, 0], v[:, 0]) for k, v in kv]
  cache = [(k.transpose(0, 2, 1, 3), v.transpose(0, 2, 3, 1)) for k, v in past]
  past_valid = np.array([[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4])
  args = (suffixes, np.full((3, 2, 1), 5), np.ones((3, 2, 1), bool))
  h, new = apply(*args, past=past, past_valid=past_valid)
  h_cache, new_cache = apply(*args, past=cache, past_valid=past_valid, past_layout=decoder.CACHE_LAYOUT)
  np.testing.assert_array_equal(np.asarray(h), np.asarray(h_cache))
  for (k, v), (kc, vc) in zip(new, new_cache):
    np.testing.assert_array_equal(np.asarray(k), np.asarray(kc))
    np.testing.assert_array_equal(np.asarray(v), np.asarray(vc))
  with pytest.raises(ValueError, match="past_layout='bhpc'"):
    apply(*args, past=past, past_valid=past_valid, past_layout="bhpc")


def test_logits_of_selected_ids_are_columns_of_full_logits():
  cfg = hf_checkpoint.config_from_hf(TINY)
  params = _random_params(cfg)
  model = decoder.Decoder(cfg)
  h = jnp.asarray(np.random.default_rng(0).standard_normal((3, cfg.word_dim)), jnp.float32)
  ids = jnp.array([5, 0, 36])
  full = model.apply({"params": params}, h, method="logits")
  np.testing.assert_allclose(model.apply({"params": params}, h, ids, method="logits"), full[:, ids], rtol=1e-6)


def _write(path, cfg, tensors):
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  os.makedirs(path, exist_ok=True)
  save_file(tensors, os.path.join(path, "model.safetensors"))
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(hf_checkpoint.config_to_hf(cfg), f)


def test_both_key_prefixes_load_and_errors_name_the_key(tmp_path):
  pytest.importorskip("safetensors")
  cfg = hf_checkpoint.config_from_hf(TINY)
  params = _random_params(cfg)
  hf_checkpoint.save_opt(str(tmp_path / "a"), cfg, params)
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  tensors = load_file(str(tmp_path / "a" / "model.safetensors"))
  short = {k.removeprefix("model."): v for k, v in tensors.items()}  # OPTModel layout: decoder.*
  _write(str(tmp_path / "b"), cfg, dict(short, **{"lm_head.weight": short["decoder.embed_tokens.weight"]}))
  for sub in ("a", "b"):
    _, loaded = hf_checkpoint.load_opt(str(tmp_path / sub))
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6), loaded,
                 jax.tree.map(lambda x: np.asarray(x, np.float32), params))
  missing = dict(short)
  del missing["decoder.layers.1.fc2.bias"]
  _write(str(tmp_path / "c"), cfg, missing)
  with pytest.raises(ValueError, match=r"'decoder\.layers\.1\.fc2\.bias' is missing"):
    hf_checkpoint.load_opt(str(tmp_path / "c"))
  wrong = dict(short, **{"decoder.layers.0.self_attn.q_proj.weight": np.zeros((16, 15), np.float32)})
  _write(str(tmp_path / "d"), cfg, wrong)
  with pytest.raises(ValueError, match=r"'decoder\.layers\.0\.self_attn\.q_proj\.weight' has shape \(16, 15\)"):
    hf_checkpoint.load_opt(str(tmp_path / "d"))
  untied = dict(short, **{"lm_head.weight": np.zeros_like(short["decoder.embed_tokens.weight"])})
  _write(str(tmp_path / "e"), cfg, untied)
  with pytest.raises(ValueError, match="lm_head.weight differs"):
    hf_checkpoint.load_opt(str(tmp_path / "e"))


def test_missing_checkpoints_say_what_to_do(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    hf_checkpoint.load_opt(str(tmp_path / "nowhere"))
  (tmp_path / "pt").mkdir()
  (tmp_path / "pt" / "config.json").write_text(json.dumps(TINY))
  (tmp_path / "pt" / "pytorch_model.bin").write_bytes(b"not read")
  with pytest.raises(FileNotFoundError, match="pytorch_model.bin, which is not read"):
    hf_checkpoint.load_opt(str(tmp_path / "pt"))
  with pytest.raises(FileNotFoundError, match="download it first"):
    hf_checkpoint.resolve("no-such-org-xyz/no-such-model")
  with pytest.raises(ValueError, match="activation_function='gelu'"):
    hf_checkpoint.config_from_hf(dict(TINY, activation_function="gelu"))
