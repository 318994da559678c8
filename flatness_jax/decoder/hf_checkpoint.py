"""OPT checkpoints in the Hugging Face layout: config.json + *.safetensors, read into flatness_jax.decoder.opt.

`load_opt(path)` returns (DecoderConfig, params) for a local directory holding `config.json` and one or more
`*.safetensors` files (a sharded checkpoint's shards are all read). Released checkpoints name their weights
`model.decoder.*` (OPTForCausalLM) or `decoder.*` (OPTModel); both are accepted, and `lm_head.weight`, when stored,
must equal the (tied) token embedding. A name that is not a directory is looked up on the Hugging Face hub with
`huggingface_hub` when it is installed and the hub can be reached; otherwise a one-line error says to download it
first. Only safetensors are read, never pickle (`pytorch_model.bin` is refused with a message). A missing weight or
a weight of the wrong shape raises ValueError naming the key. `save_opt(path, config, params)` writes the same
layout (`model.decoder.*` keys), which OPTForCausalLM.from_pretrained reads.

Mapping: a flax leaf `layers_3/self_attn/q_proj/kernel` is the PyTorch `layers.3.self_attn.q_proj.weight`
transposed (Linear stores [out, in]); `scale` ↔ `weight` of a LayerNorm; `embed_tokens`/`embed_positions` ↔
`embed_tokens.weight`/`embed_positions.weight`.
"""
import glob
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from flatness_jax.decoder.opt import Decoder, DecoderConfig

PREFIXES = ("model.decoder.", "decoder.")
ACTIVATIONS = ("relu",)


def config_from_hf(hf: dict, where: str = "config.json") -> DecoderConfig:
  """DecoderConfig of a Hugging Face OPT config dict; unsupported settings raise ValueError naming the field."""
  if hf.get("model_type", "opt") != "opt":
    raise ValueError(f"{where}: model_type={hf.get('model_type')!r} is not an OPT checkpoint")
  act = hf.get("activation_function", "relu")
  if act not in ACTIVATIONS:
    raise ValueError(f"{where}: activation_function={act!r} is not supported (OPT uses 'relu')")
  for field in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "ffn_dim",
                "max_position_embeddings"):
    if field not in hf:
      raise ValueError(f"{where}: field {field!r} is missing")
  eos = hf.get("eos_token_id", 2)
  if isinstance(eos, list):
    eos = eos[0]
  cfg = DecoderConfig(
      vocab_size=int(hf["vocab_size"]), hidden_size=int(hf["hidden_size"]), num_layers=int(hf["num_hidden_layers"]),
      num_heads=int(hf["num_attention_heads"]), ffn_dim=int(hf["ffn_dim"]),
      max_positions=int(hf["max_position_embeddings"]),
      embed_dim=int(hf.get("word_embed_proj_dim") or hf["hidden_size"]),
      pre_layer_norm=bool(hf.get("do_layer_norm_before", True)),
      final_layer_norm=not hf.get("_remove_final_layer_norm", False), bias=bool(hf.get("enable_bias", True)),
      layer_norm_affine=bool(hf.get("layer_norm_elementwise_affine", True)),
      pad_id=int(hf.get("pad_token_id", 1) if hf.get("pad_token_id") is not None else 1),
      bos_id=int(hf.get("bos_token_id", 2)), eos_id=int(eos))
  return cfg.validate(where)


def config_to_hf(cfg: DecoderConfig) -> dict:
  """The Hugging Face config.json dict of a DecoderConfig (OPTForCausalLM, ReLU, no dropout)."""
  return {"model_type": "opt", "architectures": ["OPTForCausalLM"], "vocab_size": cfg.vocab_size,
          "hidden_size": cfg.hidden_size, "num_hidden_layers": cfg.num_layers,
          "num_attention_heads": cfg.num_heads, "ffn_dim": cfg.ffn_dim,
          "max_position_embeddings": cfg.max_positions, "word_embed_proj_dim": cfg.word_dim,
          "do_layer_norm_before": cfg.pre_layer_norm, "_remove_final_layer_norm": not cfg.final_layer_norm,
          "enable_bias": cfg.bias, "layer_norm_elementwise_affine": cfg.layer_norm_affine,
          "activation_function": "relu", "dropout": 0.0, "attention_dropout": 0.0, "pad_token_id": cfg.pad_id,
          "bos_token_id": cfg.bos_id, "eos_token_id": cfg.eos_id, "tie_word_embeddings": True}


def abstract_params(cfg: DecoderConfig):
  """The parameter tree's shapes (jax.ShapeDtypeStruct leaves) for `cfg`, without allocating it."""
  tokens = jnp.zeros((1, 1), jnp.int32)
  return jax.eval_shape(lambda: Decoder(cfg).init(jax.random.key(0), tokens))["params"]


def hf_name(path) -> str:
  """The PyTorch state-dict name (without prefix) of a flax leaf path (tuple of keys)."""
  parts = []
  for p in path:
    name = getattr(p, "key", p)
    parts.extend(name.split("_", 1) if name.startswith("layers_") else [name])
  leaf = parts[-1]
  if leaf in ("kernel", "scale"):
    parts[-1] = "weight"
  elif leaf != "bias":
    parts.append("weight")
  return ".".join(parts)


def _transposed(path) -> bool:
  return getattr(path[-1], "key", path[-1]) == "kernel"


def resolve(path: str) -> str:
  """A local checkpoint directory for `path`: the directory itself, or a hub name fetched by huggingface_hub."""
  if os.path.isdir(path):
    return path
  if os.path.exists(path):
    raise NotADirectoryError(f"checkpoint {path!r} is a file; give the directory holding config.json and "
                             "*.safetensors")
  hint = (f"download it first (e.g. `huggingface-cli download {path} --local-dir DIR`) and pass the local "
          "directory")
  if path.count("/") != 1 or path.startswith(("/", ".")):
    raise FileNotFoundError(f"checkpoint directory {path!r} does not exist")
  try:
    import huggingface_hub  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise FileNotFoundError(f"checkpoint {path!r} is not a local directory and huggingface_hub is not installed: "
                            f"{hint}") from None
  try:
    return huggingface_hub.snapshot_download(path, allow_patterns=["*.json", "*.safetensors", "*.txt"])
  except Exception as e:  # pylint: disable=broad-except  (offline, unknown repo, gated, ...)
    raise FileNotFoundError(f"checkpoint {path!r} is not a local directory and could not be fetched from the "
                            f"Hugging Face hub ({type(e).__name__}): {hint}") from None


def read_tensors(directory: str) -> dict:
  """{name: float32 numpy array} of every tensor in the directory's *.safetensors files."""
  files = sorted(glob.glob(os.path.join(directory, "*.safetensors")))
  if not files:
    pickled = [f for f in ("pytorch_model.bin", "flax_model.msgpack") if os.path.exists(os.path.join(directory, f))]
    extra = f" (found {pickled[0]}, which is not read: convert it to safetensors first)" if pickled else ""
    raise FileNotFoundError(f"checkpoint {directory!r} has no *.safetensors weights{extra}")
  from safetensors import safe_open  # pylint: disable=g-import-not-at-top
  out = {}
  for f in files:
    try:
      with safe_open(f, framework="flax") as handle:  # "flax" reads bfloat16 too
        for name in handle.keys():
          out[name] = np.asarray(handle.get_tensor(name), np.float32)
    except Exception as e:  # pylint: disable=broad-except  (safetensors' own error types: truncated, not a header)
      detail = (str(e).strip().splitlines() or [""])[0][:120]
      raise ValueError(f"{f} is not a readable safetensors file ({type(e).__name__}: {detail})") from None
  return out


def read_config_json(path: str) -> dict:
  """The JSON object of a checkpoint's config.json; ValueError naming the file when it is not one."""
  try:
    with open(path, encoding="utf-8") as f:
      doc = json.load(f)
  except (ValueError, UnicodeDecodeError) as e:
    where = f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
    raise ValueError(f"{path} is not valid JSON{where}") from None
  if not isinstance(doc, dict):
    raise ValueError(f"{path} is not a JSON object")
  return doc


def load_opt(path: str, dtype=np.float32):
  """(DecoderConfig, params) of the OPT checkpoint at `path` (module docstring); params are numpy `dtype` arrays."""
  directory = resolve(path)
  config_path = os.path.join(directory, "config.json")
  if not os.path.exists(config_path):
    raise FileNotFoundError(f"checkpoint {directory!r} has no config.json")
  cfg = config_from_hf(read_config_json(config_path), config_path)
  tensors = read_tensors(directory)
  prefix = next((p for p in PREFIXES if any(k.startswith(p) for k in tensors)), None)
  if prefix is None:
    raise ValueError(f"checkpoint {directory!r}: no weight named {PREFIXES[0]}* or {PREFIXES[1]}* "
                     f"(found e.g. {sorted(tensors)[:3]})")

  def take(path_, spec):
    key = prefix + hf_name(path_)
    if key not in tensors:
      raise ValueError(f"checkpoint {directory!r}: weight {key!r} is missing")
    value = tensors[key].T if _transposed(path_) else tensors[key]
    if value.shape != spec.shape:
      raise ValueError(f"checkpoint {directory!r}: weight {key!r} has shape {tensors[key].shape}, expected "
                       f"{spec.shape[::-1] if _transposed(path_) else spec.shape} for {config_path}")
    return value.astype(dtype)

  params = jax.tree_util.tree_map_with_path(take, abstract_params(cfg))
  head = tensors.get("lm_head.weight")
  if head is not None and not np.array_equal(head.astype(dtype), params["embed_tokens"]):
    raise ValueError(f"checkpoint {directory!r}: lm_head.weight differs from {prefix}embed_tokens.weight "
                     "(OPT ties them; an untied head is not supported)")
  return cfg, params


def save_opt(path: str, cfg: DecoderConfig, params) -> None:
  """Writes `params` of a decoder with `cfg` as config.json + model.safetensors (`model.decoder.*`, float32)."""
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  os.makedirs(path, exist_ok=True)  # writes: a checkpoint directory the caller names
  tensors = {}
  for leaf_path, value in jax.tree_util.tree_flatten_with_path(params)[0]:
    value = np.asarray(value, np.float32)
    tensors[PREFIXES[0] + hf_name(leaf_path)] = np.ascontiguousarray(value.T if _transposed(leaf_path) else value)
  save_file(tensors, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
  with open(os.path.join(path, "config.json"), "w") as f:  # writes: the checkpoint's config
    json.dump(config_to_hf(cfg), f, indent=2)  # writes: the checkpoint's config
