"""Resource plan of the LM language (flatness_jax.data.lm): the cost of its exact optimal loss, of the held-out
pairs, of the default token set and of sampling each training step, from shapes only (no weights needed).

FLOPs of one decoder token (multiply-adds count 2), for a decoder with N_blocks block weights (n layers, width d,
word width e) attending to c keys, with a head over H token ids:
    2·N_blocks + 4·n·c·d + 2·e·H        (H = K: scores over S;  H = V: the unrestricted model)
Exact masked conditional at one position t of a sentence of n tokens (data/lm.py): one pass over the L prefix
slots, then K' candidate suffixes of W = W(n − t + 1) tokens (the next power of two, capped at L: the padding that
bounds the compiled shapes), each scoring the L prefix keys (masked past t) and the W suffix keys, with the head
over S:
    F_sentence = L·f(L, K) + K'·E_t[W·f(L + W, K)]
with t uniform (one position per sentence: the data card and every held-out pair). The plan takes n = L (an upper
bound; the card's mean length scales the suffix term down) and K' = K (EOS in S makes it K − 1). A language
generated after C prompts of P tokens costs C times this, with P + L in place of L (the prompt is read first).
Seconds assume the device's bf16 peak × MFU, halved on accelerators because the language runs its decoder in
float32 (TF32-class matmuls); measure before trusting (the data card prints its seconds). Measured on 2 shared CPU
cores: the CPU default (K = 48, L = 12, d = 64, 2 layers; 8.2e7 FLOP per sentence) ran 225 sentences/s, where
the nominal CPU at 40% MFU predicts 490.
"""
import dataclasses

from flatness_jax.parallel.resources import HARDWARE

FLOAT32_FRACTION = 0.5  # float32 (TF32-class) matmul throughput relative to the bf16 peak (assumption)


def token_flops(cfg, context: float, head: int) -> float:
  """FLOPs of one decoder token attending to `context` keys with a head over `head` ids (module docstring)."""
  return 2 * cfg.non_embedding_params + 4 * cfg.num_layers * context * cfg.hidden_size + 2 * cfg.word_dim * head


def windows(length: int) -> list[int]:
  """W(L − t + 1) for t = 1..L: the padded suffix lengths of a sentence of L tokens."""
  buckets = [w for w in (2 ** i for i in range(length.bit_length() + 1)) if w < length] + [length]
  return [next(w for w in buckets if w >= m) for m in range(1, length + 1)]


def enumeration_flops(cfg, num_words: int, length: int, window: int) -> float:
  """FLOPs of the exact conditional at one position whose suffix is padded to `window` (module docstring)."""
  return length * token_flops(cfg, length, num_words) + num_words * window * token_flops(cfg, length + window,
                                                                                           num_words)


def mean_window(length: int) -> float:
  """E_t[W(L − t + 1)] for t uniform on 1..L."""
  return sum(windows(length)) / length


@dataclasses.dataclass
class LMPlan:
  cfg: object          # DecoderConfig
  num_tokens: int      # K
  length: int          # L
  frequency_sentences: int
  card_sentences: int
  heldout_pairs: int
  batch: int
  hardware: str
  mfu: float
  prompts: int = 1        # C: each exact conditional enumerates the candidates after every prompt
  prompt_length: int = 0  # P: prompt tokens the decoder reads before each sentence

  @property
  def float32_fraction(self) -> float:
    return 1.0 if self.hardware == "cpu" else FLOAT32_FRACTION  # the CPU's nominal peak is float32 already

  @property
  def rate(self) -> float:
    return HARDWARE[self.hardware].peak_flops * self.mfu * self.float32_fraction

  @property
  def sentence_flops(self) -> float:
    """C × F_sentence with the prompt's P tokens in front (prefix and context P + L)."""
    w = windows(self.length)
    return self.prompts * sum(enumeration_flops(self.cfg, self.num_tokens, self.length + self.prompt_length, x)
                              for x in w) / len(w)

  @property
  def frequency_flops(self) -> float:
    context = self.length + self.prompt_length
    return self.frequency_sentences * context * token_flops(self.cfg, context, self.cfg.vocab_size)

  @property
  def sampling_flops(self) -> float:
    context = self.length + self.prompt_length
    return self.batch * context * token_flops(self.cfg, context, self.num_tokens)


def _time(seconds: float) -> str:
  if seconds < 1:
    return f"{seconds * 1e3:.3g} ms"
  if seconds < 120:
    return f"{seconds:.3g} s"
  return f"{seconds / 60:.3g} min" if seconds < 7200 else f"{seconds / 3600:.3g} h"


def format_lm_plan(p: LMPlan) -> str:
  cfg = p.cfg
  hw = HARDWARE[p.hardware]
  per_s = p.rate / p.sentence_flops
  return "\n".join([
      f"LM language: decoder {cfg.num_layers} layers × d {cfg.hidden_size} ({cfg.non_embedding_params / 1e6:.1f}M "
      f"block parameters, vocabulary {cfg.vocab_size}), K = {p.num_tokens}, L = {p.length}"
      + (f", C = {p.prompts} prompts of P = {p.prompt_length}" if p.prompts > 1 or p.prompt_length else "")
      + "; on one "
      f"{hw.name} at {100 * p.mfu:.0f}% MFU × {p.float32_fraction:g} (float32)",
      f"  exact L* (one position per sentence, K' candidate suffixes of mean padded length "
      f"{mean_window(p.length):.2f}): {p.sentence_flops:.3g} FLOP per sentence -> {per_s:,.1f} sentences/s",
      f"    data card ({p.card_sentences:,} sentences)      {_time(p.card_sentences / per_s)}",
      f"    held-out pairs ({p.heldout_pairs:,}, once per run)  {_time(p.heldout_pairs / per_s)}",
      f"  default S ({p.frequency_sentences:,} unrestricted sentences, once per process) "
      f"{p.frequency_flops:.3g} FLOP -> {_time(p.frequency_flops / p.rate)}",
      f"  sampling per training step ({p.batch:,} sentences × {p.length} tokens, head over S) "
      f"{p.sampling_flops:.3g} FLOP -> {_time(p.sampling_flops / p.rate)} per step on one device",
  ])
