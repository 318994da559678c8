"""Data configs of kind 'lm': presets, field validation, and the LMLanguage (flatness_jax.data.lm) they describe.

Fields (data.*; 0 / '' means "the preset's value"):
  preset               'tiny' | 'cpu' (random OPT-architecture decoders, drawn with data.seed) | 'paper' (a released
                       checkpoint: data.checkpoint is required)
  checkpoint           local directory in Hugging Face layout (config.json + *.safetensors [+ tokenizer files]), or a
                       hub name fetched by huggingface_hub when it can be (flatness_jax.decoder.hf_checkpoint)
  num_tokens           K = |S|
  max_length           L, the longest sentence (tokens after BOS and the prompt)
  temperature          T: p(w | z_<i) ∝ exp(l_w / T) before the restriction to S
  token_ids            S as comma-separated decoder ids ('' → the K most frequent tokens, below)
  frequency_sentences  sentences of the unrestricted model whose token counts pick the default S
  num_prompts          C: the latent prompts sentences are generated after (C ≥ 2 adds the task 'prompt';
                       flatness_jax.data.lm); 1 with prompt_length 0 is the plain restricted decoder
  prompt_length        P: decoder ids per prompt (needs P + L + 1 decoder positions)
  glue_dir             tensorflow-datasets data dir holding glue/qnli and glue/sst2 ('' → TFDS's default)
  seed                 draws the random decoder's weights (key(seed)), the frequency sample (fold_in(key(seed), 1))
                       and the prompts (fold_in(key(seed), 2))

The default S. How the paper picked "the 2,000 most frequent tokens" is not public. Ours: the K most frequent
tokens (EOS counted where it ends a sentence) in `frequency_sentences` sentences sampled from the unrestricted
model at temperature T after the prompts, with EOS barred as the first token; ties by increasing id. The data card
records this provenance and the ids; pass data.token_ids to use another set.

The prompts. C prompts of P decoder ids each, drawn uniformly among the decoder's ids other than PAD, BOS and EOS
(they need not be in S: they condition the decoder and are dropped), with a uniform prior; the data card records
them. Their recovery from the sentence is the LM language's own downstream task, whose majority rate (1/C) and
Bayes accuracy (exact posterior over the C prompts) the data card states, so transfer is measured without GLUE.

Presets:
  paper  OPT-125M (facebook/opt-125m, downloaded first): K = 2,000, L = 24, T = 1, S from 20,000 sentences, no
         prompts (GLUE QNLI / SST-2 are its tasks; data.num_prompts / data.prompt_length add the prompt task at
         C times the cost of the exact conditionals).
  cpu    a random 2-layer pre-LN decoder over UTF-8 bytes (d = 64, 4 heads, FFN 256, init N(0, 0.07²)), K = 48,
         L = 12, T = 0.5, S from 4,000 sentences, C = 4 prompts of P = 4 ids. Why random and not trained briefly
         here: a pure function of the config (no stage to rerun before every job). Why these scales: the init
         scale sets how peaked and how context-dependent the next-token distributions are: at OPT's 0.02 (and
         T = 1) they are nearly uniform over S (L* ≈ log K', nothing to learn); at 0.1 (this preset before) they
         are peaked and the context is worth more, but the masked conditionals are so intricate a function of the
         sentence that a CPU model stays far from L* for any affordable budget; 0.07 keeps a context worth a
         fraction of a nat and a prompt task far from both chance and certainty while cpu_s reaches the
         saturation regime (experiments/configs/lm.py states the gap and the budget). Its tokenizer is the byte
         one (flatness_jax.data.text_tokenizer), so GLUE text maps onto it without files.
  tiny   an enumerable decoder (9 ids, K = 5, L = 4, C = 2 prompts of P = 2 ids) for tests.
"""
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from flatness_jax.data import glue, lm, text_tokenizer
from flatness_jax.decoder import hf_checkpoint
from flatness_jax.decoder.opt import Decoder

FIELDS = {"checkpoint": "", "num_tokens": 0, "max_length": 0, "temperature": 0.0, "token_ids": "",
          "frequency_sentences": 0, "glue_dir": "", "num_prompts": 0,
          "prompt_length": 0}  # the lm-only data fields and their "unset" values

_RANDOM = dict(checkpoint=False, candidate_chunk=0)
PRESETS = {
    "tiny": dict(_RANDOM, decoder=dict(vocab_size=9, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                                       ffn_dim=16, max_position_embeddings=8),
                 init_std=0.7, num_tokens=5, max_length=4, temperature=1.0, frequency_sentences=2000,
                 num_prompts=2, prompt_length=2, tokenizer="", batch_size=16, sample_batch=256),
    "cpu": dict(_RANDOM, decoder=dict(vocab_size=text_tokenizer.BytesTokenizer.vocab_size, hidden_size=64,
                                      num_hidden_layers=2, num_attention_heads=4, ffn_dim=256,
                                      max_position_embeddings=32),
                init_std=0.07, num_tokens=48, max_length=12, temperature=0.5, frequency_sentences=4000,
                num_prompts=4, prompt_length=4, tokenizer="bytes", batch_size=64, sample_batch=256),
    "paper": dict(checkpoint=True, num_tokens=2000, max_length=24, temperature=1.0, frequency_sentences=20000,
                  num_prompts=1, prompt_length=0, tokenizer="checkpoint", batch_size=8, sample_batch=512,
                  candidate_chunk=500),
}
# Decoder shape of the paper preset, for the resource plan before any weights are on disk (facebook/opt-125m).
OPT_125M = dict(vocab_size=50272, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, ffn_dim=3072,
                max_position_embeddings=2048)


def _int(data_config, field, preset, minimum):
  value = data_config.get(field, FIELDS[field]) or preset[field]
  if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
    raise ValueError(f"data.{field}={value!r} must be an int >= {minimum}")
  return int(value)


def _token_ids(value):
  if not value:
    return None
  items = value.split(",") if isinstance(value, str) else list(value)
  try:
    ids = [int(str(v).strip()) for v in items if str(v).strip()]
  except ValueError:
    raise ValueError(f"data.token_ids={value!r} must be comma-separated decoder token ids") from None
  if len(set(ids)) != len(ids) or len(ids) < 2:
    raise ValueError(f"data.token_ids must list at least 2 distinct ids, got {len(ids)} ({len(set(ids))} distinct)")
  return tuple(ids)


def resolve(data_config, require_checkpoint: bool = True) -> dict:
  """The lm fields of `data_config` with the preset's values filled in, validated (ValueError names the field);
  `require_checkpoint=False` lets a plan describe the paper preset before its weights are on disk."""
  name = data_config.get("preset", "")
  if name not in PRESETS:
    raise ValueError(f"unknown data.preset={name!r} for data.kind='lm'; known presets: {sorted(PRESETS)}")
  preset = PRESETS[name]
  if data_config.get("grammar_path", ""):
    raise ValueError("data.grammar_path is only meaningful for data.kind='pcfg'")
  checkpoint = data_config.get("checkpoint", "") or ""
  if preset["checkpoint"] and not checkpoint and require_checkpoint:
    raise ValueError(f"data.checkpoint is required with data.preset={name!r}: a local directory with config.json + "
                     "*.safetensors (e.g. facebook/opt-125m, downloaded first)")
  if checkpoint and not preset["checkpoint"]:
    raise ValueError(f"data.checkpoint={checkpoint!r} is set but data.preset={name!r} is a random decoder; use "
                     "data.preset='paper' for a checkpoint")
  temperature = data_config.get("temperature", 0.0) or preset["temperature"]
  if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not temperature > 0:
    raise ValueError(f"data.temperature={temperature!r} must be a number > 0")
  token_ids = _token_ids(data_config.get("token_ids", ""))
  num_tokens = data_config.get("num_tokens", 0)
  if token_ids and num_tokens and num_tokens != len(token_ids):
    raise ValueError(f"data.num_tokens={num_tokens} disagrees with the {len(token_ids)} ids of data.token_ids")
  out = dict(preset=name, checkpoint=checkpoint, temperature=float(temperature), token_ids=token_ids,
             num_tokens=len(token_ids) if token_ids else _int(data_config, "num_tokens", preset, 2),
             max_length=_int(data_config, "max_length", preset, 1),
             frequency_sentences=_int(data_config, "frequency_sentences", preset, 1),
             num_prompts=_int(data_config, "num_prompts", preset, 1),
             prompt_length=_int(data_config, "prompt_length", preset, 0),
             glue_dir=str(data_config.get("glue_dir", "") or ""), seed=int(data_config.get("seed", 0)))
  if out["num_prompts"] >= 2 and out["prompt_length"] < 1:
    raise ValueError(f"data.num_prompts={out['num_prompts']} needs data.prompt_length >= 1 (prompts of "
                     "decoder tokens to tell apart)")
  return out


def check_unset(data_config, kind: str) -> None:
  """Raises ValueError if an lm-only field is set in a data config of another kind."""
  for field, unset in FIELDS.items():
    if data_config.get(field, unset) != unset:
      raise ValueError(f"data.{field} is only meaningful for data.kind='lm' (data.kind={kind!r})")


def shape(data_config) -> tuple:
  """(vocab_size upper bound K + 2, max_length) of an lm data config, without loading any weights."""
  r = resolve(data_config, require_checkpoint=False)
  return r["num_tokens"] + 2, r["max_length"]


def decoder_shape(data_config) -> hf_checkpoint.DecoderConfig:
  """The decoder's shape: the checkpoint's config.json when it is on disk, else the preset's (paper: OPT-125M)."""
  r = resolve(data_config, require_checkpoint=False)
  path = os.path.join(r["checkpoint"], "config.json")
  if r["checkpoint"] and os.path.exists(path):
    return hf_checkpoint.config_from_hf(hf_checkpoint.read_config_json(path), path)
  return hf_checkpoint.config_from_hf(PRESETS[r["preset"]].get("decoder") or OPT_125M)


def make_lm_language(data_config) -> lm.LMLanguage:
  """The LMLanguage of an lm data config (module docstring); built once per process for equal configs."""
  r = resolve(data_config)
  return _build(json.dumps(r, sort_keys=True))


@functools.lru_cache(maxsize=4)
def _build(key: str) -> lm.LMLanguage:
  r = json.loads(key)
  preset = PRESETS[r["preset"]]
  if r["checkpoint"]:
    directory = hf_checkpoint.resolve(r["checkpoint"])
    cfg, params = hf_checkpoint.load_opt(directory)
    source = f"checkpoint {os.path.abspath(directory)}"
    name = f"lm-{os.path.basename(os.path.normpath(directory))}"
  else:
    directory = ""
    cfg = hf_checkpoint.config_from_hf(preset["decoder"])
    module = Decoder(cfg, init_std=preset["init_std"])
    params = module.init(jax.random.key(r["seed"]), jnp.zeros((1, 1), jnp.int32))["params"]
    source = f"random decoder (preset {r['preset']!r}, init N(0, {preset['init_std']}²), seed {r['seed']})"
    name = f"lm-{r['preset']}-seed{r['seed']}"
  module = Decoder(cfg)
  if r["prompt_length"] + r["max_length"] + 1 > cfg.max_positions:
    raise ValueError(f"data.max_length={r['max_length']} after prompts of {r['prompt_length']} tokens needs "
                     f"{r['prompt_length'] + r['max_length'] + 1} positions; the decoder has {cfg.max_positions}")
  prompts = draw_prompts(cfg, r["num_prompts"], r["prompt_length"], r["seed"])
  if r["num_tokens"] >= cfg.vocab_size:
    raise ValueError(f"data.num_tokens={r['num_tokens']} must be below the decoder's vocabulary {cfg.vocab_size}")
  if r["token_ids"]:
    ids, provenance = np.array(r["token_ids"]), {"selection": "data.token_ids (given)"}
    bad = [int(i) for i in ids if not 0 <= i < cfg.vocab_size or i == cfg.pad_id]
    if bad:
      raise ValueError(f"data.token_ids: {bad[:5]} are outside [0, {cfg.vocab_size}) or the PAD id {cfg.pad_id}")
  else:
    ids, counts = lm.frequent_tokens(module, params, jax.random.fold_in(jax.random.key(r["seed"]), 1),
                                     r["num_tokens"], r["frequency_sentences"], r["max_length"], r["temperature"],
                                     preset["sample_batch"], prompts)
    provenance = {"selection": f"the {r['num_tokens']} most frequent tokens (EOS where it ends a sentence) in "
                               f"{r['frequency_sentences']} sentences of the unrestricted model at T = "
                               f"{r['temperature']} after the prompts, EOS barred first, seed "
                               f"fold_in(key({r['seed']}), 1)",
                  "counts": counts.tolist()}
  provenance["decoder"] = source
  name += f"-K{len(ids)}-L{r['max_length']}-T{r['temperature']:g}"
  if prompts.count > 1 or prompts.length:
    name += f"-C{prompts.count}P{prompts.length}"
    provenance["prompts"] = (f"{prompts.count} prompts of {prompts.length} decoder ids drawn uniformly among the ids "
                             f"other than PAD/BOS/EOS with fold_in(key({r['seed']}), 2); uniform prior")
  lang = lm.LMLanguage(cfg, params, ids, r["max_length"], r["temperature"], prompts=prompts, name=name,
                       provenance=provenance, batch_size=preset["batch_size"], sample_batch=preset["sample_batch"],
                       candidate_chunk=preset["candidate_chunk"])
  reason = ""
  tokenizer = None
  try:
    if preset["tokenizer"]:
      tokenizer = text_tokenizer.load_tokenizer(preset["tokenizer"], directory)
    else:
      reason = f"data.preset={r['preset']!r} has no tokenizer"
  except FileNotFoundError as e:
    reason = str(e)
  lang.tasks = {**lang.tasks, **glue.glue_tasks(lang, tokenizer, r["glue_dir"], unavailable=reason)}
  return lang


def draw_prompts(cfg, count: int, length: int, seed: int) -> lm.Prompts:
  """`count` distinct prompts of `length` decoder ids, uniform over the ids other than PAD, BOS and EOS, drawn
  with fold_in(key(seed), 2); a uniform prior. One prompt of length 0: none."""
  if count == 1 and length == 0:
    return lm.Prompts.none()
  allowed = np.setdiff1d(np.arange(cfg.vocab_size), [cfg.pad_id, cfg.bos_id, cfg.eos_id])
  draws = np.asarray(jax.random.choice(jax.random.fold_in(jax.random.key(seed), 2), allowed, (count, length)))
  if len({tuple(row) for row in draws.tolist()}) < count:
    raise ValueError(f"data.num_prompts={count}: prompts of {length} tokens drawn with seed {seed} coincide; "
                     "raise data.prompt_length")
  return lm.Prompts.uniform(draws)
