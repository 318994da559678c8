"""Token ids of the masked-LM vocabulary, shared by the data layer and the models.

Words are ids 0..V−1 for a language of V words, PAD = V (positions past a sentence's length), MASK = V+1, so a
model's embedding table has V+2 rows (`model_vocab_size`) while its MLM head predicts only the V real words.
"""


def pad_id(vocab_size: int) -> int:
  """Id of the PAD token for a language of `vocab_size` words."""
  return vocab_size


def mask_id(vocab_size: int) -> int:
  """Id of the MASK token for a language of `vocab_size` words."""
  return vocab_size + 1


def model_vocab_size(vocab_size: int) -> int:
  """Rows of a model's embedding table: the words, PAD and MASK."""
  return vocab_size + 2
