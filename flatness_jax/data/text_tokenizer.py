"""Text → decoder token ids, for downstream text (GLUE) read by a model trained on an LM language.

Text must be tokenised by the tokenizer of the decoder that generated the language, so that a word of S means the
same token in pre-training and downstream. Two kinds:
  * `BytesTokenizer`: one token per UTF-8 byte, id = byte + 4 (ids 0..3 are OPT's <s>, <pad>, </s>, <unk>); the
    vocabulary of the random CPU decoders (flatness_jax.data.lm_config), which have no tokenizer files.
  * `FileTokenizer`: a checkpoint directory's own files, read with the `tokenizers` library: `tokenizer.json`, or
    GPT-2-style byte-level BPE `vocab.json` + `merges.txt` (OPT's released checkpoints ship these).
Both encode without special tokens (the language adds BOS itself). `load_tokenizer(kind, directory)` returns one,
or raises FileNotFoundError naming what is missing.
"""
import os

BYTE_OFFSET = 4


class BytesTokenizer:
  """One token per UTF-8 byte: id = byte + 4."""
  vocab_size = 256 + BYTE_OFFSET
  description = "UTF-8 bytes (id = byte + 4)"

  def encode_batch(self, texts) -> list[list[int]]:
    return [[b + BYTE_OFFSET for b in t.encode("utf-8")] for t in texts]


class FileTokenizer:
  """A `tokenizers` tokenizer read from a checkpoint directory (module docstring)."""

  def __init__(self, directory: str):
    try:
      import tokenizers  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise FileNotFoundError("reading a checkpoint's tokenizer needs the `tokenizers` package: "
                              "pip install -e '.[glue]'") from None
    path = os.path.join(directory, "tokenizer.json")
    vocab, merges = os.path.join(directory, "vocab.json"), os.path.join(directory, "merges.txt")
    if os.path.exists(path):
      self._tok, self.description = tokenizers.Tokenizer.from_file(path), f"{path} (tokenizers)"
    elif os.path.exists(vocab) and os.path.exists(merges):
      self._tok = tokenizers.ByteLevelBPETokenizer.from_file(vocab, merges)
      self.description = f"{vocab} + merges.txt (byte-level BPE)"
    else:
      raise FileNotFoundError(f"checkpoint {directory!r} has no tokenizer files (tokenizer.json, or vocab.json + "
                              "merges.txt)")
    self.vocab_size = self._tok.get_vocab_size()

  def encode_batch(self, texts) -> list[list[int]]:
    return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]


def load_tokenizer(kind: str, directory: str = ""):
  """'bytes' → BytesTokenizer; 'checkpoint' → FileTokenizer(directory)."""
  if kind == "bytes":
    return BytesTokenizer()
  if kind == "checkpoint":
    return FileTokenizer(directory)
  raise ValueError(f"unknown tokenizer kind {kind!r}; known: 'bytes', 'checkpoint'")
