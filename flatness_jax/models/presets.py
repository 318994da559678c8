"""Model configs: defaults, named presets, validation and the `make_model` factory.

Presets. The paper (Liu et al. 2023) labels its transformer sizes 4.3M ... 235M (235M = hidden 1024, 16 layers,
16 heads, FFN 4096) and its LSTMs 10M-135M. Those labels count a BERT-sized vocabulary: with the HuggingFace BERT
defaults (30,522-token vocabulary, 512 positions, 2 token types, tied MLM decoder) our shapes below give
4.42M, 9.62M, 17.4M, 35.1M, 67.0M, 133.6M, 234.4M and 730.0M, i.e. the labels within 3.1%. We chose
the standard BERT shape family (head width 64, FFN 4d) and picked depth to hit each label; the 235M preset is
exactly the paper's. With the synthetic vocabularies (V = 200 words) the embedding is negligible and the same
presets have fewer parameters (see `paper_param_count` and the tests: 235M -> 202.8M at V=200, L=32).
LSTM presets use d hidden units per direction (params ~ (16 + 24 (n-1)) d^2). CPU presets are the quickstart
sizes: cpu_s (d=64x2, 4 heads, FFN 256) is the quickstart's model; cpu_xs (d=32x2, 2 heads of 16, FFN 128) needs
more steps for the same gap (configs/quickstart.py and results/ say how many).

Override rule: the size fields (kind, d_model, num_layers, num_heads, d_ff) start *unset* (typed
`ml_collections.config_dict.placeholder`s, value None). A preset fills only unset fields; a value assigned anywhere
(get_config, an arm, a dotted flag, in any order) is explicit and wins. Without a preset, unset fields take
SIZE_DEFAULTS. An explicit kind that contradicts the preset's kind is an error, not a silent override.
`resolve_model_config` returns the expanded section (no None left, `preset` kept as the record of the name).
"""
import jax.numpy as jnp
import ml_collections
from ml_collections import config_dict

from flatness_jax.models.bert import BertMLM
from flatness_jax.models.lstm import BiLSTMMLM

KINDS = ("bert", "lstm")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _bert(d, layers, heads, ff):
  return dict(kind="bert", d_model=d, num_layers=layers, num_heads=heads, d_ff=ff)


def _lstm(d, layers):
  return dict(kind="lstm", d_model=d, num_layers=layers)


PRESETS = {
    # CPU quickstart sizes (~0.02M-3M parameters at V=50, L=16); the quickstart trains cpu_xs and cpu_s.
    "cpu_tiny": _bert(32, 1, 2, 128),
    "cpu_xs": _bert(32, 2, 2, 128),
    "cpu_s": _bert(64, 2, 4, 256),
    "cpu_m": _bert(128, 2, 4, 512),
    "cpu_l": _bert(128, 4, 4, 512),
    "cpu_xl": _bert(256, 4, 4, 1024),
    "lstm_cpu_xs": _lstm(32, 2),  # configs/model_size.py:hmm_lstm's three LSTM widths: xs, s, m
    "lstm_cpu_s": _lstm(64, 2),
    "lstm_cpu_m": _lstm(128, 2),
    # The paper's transformer ladder (labels count a 30,522-token BERT vocabulary; see the module docstring).
    "bert_4m": _bert(128, 2, 2, 512),
    "bert_9m": _bert(256, 2, 4, 1024),
    "bert_17m": _bert(384, 3, 6, 1536),
    "bert_35m": _bert(512, 6, 8, 2048),
    "bert_67m": _bert(768, 6, 12, 3072),
    "bert_135m": _bert(1024, 8, 16, 4096),
    "bert_235m": _bert(1024, 16, 16, 4096),
    "bert_730m": _bert(1536, 24, 24, 6144),
    # The paper's LSTM range (HMM data); d hidden units per direction.
    "lstm_10m": _lstm(512, 2),
    "lstm_35m": _lstm(768, 3),
    "lstm_135m": _lstm(1216, 4),
}


# What an unset size field takes when no preset names it (the cpu_s transformer's shape).
SIZE_DEFAULTS = {"kind": "bert", "d_model": 64, "num_layers": 2, "num_heads": 4, "d_ff": 256}


def default_model_config():
  """The model section of an experiment config, one comment per field; size fields start unset (None)."""
  c = ml_collections.ConfigDict()
  c.kind = config_dict.placeholder(str)  # 'bert' (pre-LN transformer encoder) or 'lstm' (bidirectional LSTM).
  #                                        Unset: the preset's kind, else 'bert'.
  c.preset = ""  # Name in presets.PRESETS, or '' for none. It fills the unset size fields below; set ones win.
  c.d_model = config_dict.placeholder(int)  # Residual width (bert) / hidden units per direction (lstm); unset: 64.
  c.num_layers = config_dict.placeholder(int)  # Transformer blocks / bidirectional LSTM layers; unset: 2.
  c.num_heads = config_dict.placeholder(int)  # Attention heads (bert only); unset: 4.
  c.head_dim = 0  # Per-head width (bert only); 0 means d_model // num_heads.
  c.d_ff = config_dict.placeholder(int)  # FFN hidden width (bert only); unset: 256.
  c.dropout = 0.0  # Dropout rate used with train=True (embeddings, attention, residual branches; LSTM layers).
  c.dtype = "float32"  # Compute dtype: 'float32' or 'bfloat16' (parameters stay float32; logits float32).
  c.tie_embeddings = True  # MLM output projection = token embedding rows 0..V-1 (BERT); False: own [d, V].
  c.scan_layers = False  # bert only: nn.scan over blocks (one compiled block, stacked 'layers' params).
  c.max_length = 0  # Length of the position table; 0: the data's maximum sentence length (set by the caller).
  return c


def resolve_model_config(model_config):
  """A new ConfigDict with every size field explicit: `model_config`'s set fields, then the preset's fields for
  the unset (None) ones, then SIZE_DEFAULTS; the other fields default to `default_model_config()`'s. The preset
  name is kept for the record; resolving a resolved config returns an equal one."""
  out = dict(default_model_config())
  out.update({k: v for k, v in dict(model_config).items() if v is not None})
  name = out["preset"]
  if name:
    if name not in PRESETS:
      raise ValueError(f"model.preset: unknown preset {name!r}; known: {sorted(PRESETS)}")
    preset = PRESETS[name]
    if out["kind"] not in (None, preset["kind"]):
      raise ValueError(f"model.kind={out['kind']!r} contradicts model.preset={name!r} (a {preset['kind']!r} "
                       "preset): set one of them")
    out.update({k: v for k, v in preset.items() if out[k] is None})
  out.update({k: v for k, v in SIZE_DEFAULTS.items() if out[k] is None})
  return ml_collections.ConfigDict(out)


def validate_model_config(model_config, vocab_size, max_length):
  """Raises ValueError naming the field for impossible settings; cheap (no tracing). Returns the resolved config."""
  unknown = set(dict(model_config)) - set(dict(default_model_config()))
  if unknown:
    raise ValueError(f"model: unknown field(s) {sorted(unknown)}")
  c = resolve_model_config(model_config)
  if c.kind not in KINDS:
    raise ValueError(f"model.kind must be one of {KINDS}, got {c.kind!r}")
  if c.dtype not in DTYPES:
    raise ValueError(f"model.dtype must be one of {sorted(DTYPES)}, got {c.dtype!r}")
  for field, value in (("vocab_size", vocab_size), ("max_length", max_length)):
    if not isinstance(value, int) or value <= 0:
      raise ValueError(f"{field} must be a positive int, got {value!r}")
  sizes = ("d_model", "num_layers") + (("num_heads", "d_ff") if c.kind == "bert" else ())
  for field in sizes:
    if not isinstance(c[field], int) or c[field] <= 0:
      raise ValueError(f"model.{field} must be a positive int, got {c[field]!r}")
  if not isinstance(c.head_dim, int) or c.head_dim < 0:
    raise ValueError(f"model.head_dim must be a non-negative int (0: d_model // num_heads), got {c.head_dim!r}")
  if c.kind == "bert" and c.head_dim == 0 and c.d_model % c.num_heads:
    raise ValueError(f"model.d_model ({c.d_model}) must be divisible by model.num_heads ({c.num_heads}) "
                     "when model.head_dim is 0")
  if not 0.0 <= c.dropout < 1.0:
    raise ValueError(f"model.dropout must be in [0, 1), got {c.dropout!r}")
  if not isinstance(c.tie_embeddings, bool):
    raise ValueError(f"model.tie_embeddings must be a bool, got {c.tie_embeddings!r}")
  if not isinstance(c.scan_layers, bool):
    raise ValueError(f"model.scan_layers must be a bool, got {c.scan_layers!r}")
  return c


def make_model(model_config, vocab_size, max_length, *, param_dtype=jnp.float32):
  """The flax module described by `model_config` (validated first) for V = vocab_size words."""
  c = validate_model_config(model_config, vocab_size, max_length)
  common = dict(vocab_size=vocab_size, max_length=max_length, d_model=c.d_model, num_layers=c.num_layers,
                dropout=c.dropout, tie_embeddings=c.tie_embeddings, dtype=DTYPES[c.dtype], param_dtype=param_dtype)
  if c.kind == "lstm":
    return BiLSTMMLM(**common)
  return BertMLM(num_heads=c.num_heads, d_ff=c.d_ff, head_dim=c.head_dim or None, scan_layers=c.scan_layers,
                 **common)


def bert_param_count(vocab_size, max_length, d_model, num_layers, num_heads, d_ff, head_dim=0,
                     tie_embeddings=True):
  """Closed form of BertMLM's parameter count (a = H * hd attention width):

    (V+2) d + L_max d + 2d                                    embeddings + embedding LayerNorm
    + n [4 d a + 3 a + d  +  2 d f + f + d  +  4d]             per block: q,k,v,out; FFN; two LayerNorms
    + 2d + d^2 + d + 2d + V  (+ d V untied)                   final LayerNorm, MLM head
  """
  d, a = d_model, num_heads * (head_dim or d_model // num_heads)
  block = 4 * d * a + 3 * a + d + 2 * d * d_ff + d_ff + d + 4 * d
  head = d * d + 3 * d + vocab_size + (0 if tie_embeddings else d * vocab_size)
  return (vocab_size + 2) * d + max_length * d + 2 * d + num_layers * block + 2 * d + head


def lstm_param_count(vocab_size, d_model, num_layers, tie_embeddings=True):
  """Closed form of BiLSTMMLM's parameter count: (V+2) d + sum_l 2 * 4 (d_in d + d^2 + d) + head, with d_in = d
  for layer 0 and 2d after; head = 2d d + d + 2d + V (+ d V untied)."""
  d = d_model
  layers = sum(8 * ((d if i == 0 else 2 * d) * d + d * d + d) for i in range(num_layers))
  head = 2 * d * d + 3 * d + vocab_size + (0 if tie_embeddings else d * vocab_size)
  return (vocab_size + 2) * d + layers + head


def paper_param_count(preset):
  """Parameters of a bert preset as a HuggingFace BertForMaskedLM counts them (30,522 words, 512 positions,
  2 token types, tied decoder with its own bias): what the paper's size labels refer to."""
  p = PRESETS[preset]
  d, f, n = p["d_model"], p["d_ff"], p["num_layers"]
  vocab = 30522
  block = 4 * (d * d + d) + d * f + f + f * d + d + 4 * d
  return (vocab + 512 + 2) * d + 2 * d + n * block + d * d + d + 2 * d + vocab
