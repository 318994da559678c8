"""The lookup-table baseline of Liu et al. 2023 (§3): probe the exact conditionals themselves.

`lookup_features(language, tokens, lengths)` concatenates the exact conditional vectors p(· | x_{−t}) of every
position ([n, L·V]; zeros at padding). A model that outputs them has the optimal pre-training loss by construction,
so a probe on them shows how much downstream accuracy the optimal loss alone guarantees.
"""
import numpy as np


def lookup_features(language, tokens, lengths) -> np.ndarray:
  """Concatenated exact conditionals p(· | x_{−t}) of every position ([n, L·V]; zeros at padding)."""
  cond = np.asarray(language.masked_conditionals(tokens, lengths))
  return cond.reshape(cond.shape[0], -1).astype(np.float32)
