"""Function-preserving embedding of a trained BiLSTMMLM into a wider one (hidden units d -> k d, k an integer).

The LSTM counterpart of flatness_jax.models.embed (Liu et al. 2023, §5: Tr(H) of models of different sizes compared
in one parameterization; Net2Net duplication, Chen, Goodfellow, Shlens 2016). Every coordinate of the token
embedding and of each direction's hidden and cell state is repeated k times, x' = [x, ..., x]:

* A kernel that reads a repeated vector (input kernels ii/if/ig/io, recurrent kernels hi/hf/hg/ho, the head's
  transform) is tiled along its input axis and divided by k, so W'^T x' = W^T x; a layer ≥ 1 and the head read the
  concatenation [h_fwd'; h_bwd'] = [tile(h_fwd); tile(h_bwd)], so each half of their input axis is tiled on its own.
* Every output axis (gates, transform) and bias is tiled: each gate pre-activation, hence i, f, g, o, the cell
  c' = f c + i g and h' = o tanh(c') are the small model's repeated k times, from the zero initial state on.
* The head's LayerNorm sees tile(z): its mean and population variance are those of z, so LN(tile(z)) =
  tile(LN(z)) with tiled scale and bias; both are divided by k so that the tied projection
  z' E'^T = Σ of k copies of (z/k) E^T = z E^T (untied: the output kernel's rows are tiled, same result).

Depth cannot grow: an LSTM layer is not the identity for any weights (its output is o ⊙ tanh(c), squashed), so
check_embeddable refuses num_layers changes. The embedded model's logits equal the small model's up to rounding.
"""
import numpy as np

_GATES_IN = ("ii", "if", "ig", "io")
_GATES_H = ("hi", "hf", "hg", "ho")


def repeat(x, axis, k):
  """x repeated k times along `axis` (concatenation of k copies; also the BertMLM embedding's tiling)."""
  return np.concatenate([x] * k, axis=axis)


def _read(kernel, k, halves):
  """A kernel [d_in, d_out] that reads a repeated input: tiled along axis 0 (each of `halves` equal parts on its
  own) and divided by k."""
  parts = np.split(kernel, halves, axis=0)
  return np.concatenate([repeat(p, 0, k) for p in parts], axis=0) / k


def widen(p: dict, k: int) -> dict:
  """The unboxed numpy params tree of a BiLSTMMLM with d_model multiplied by k (module docstring)."""
  out = {"token_embed": {"embedding": repeat(p["token_embed"]["embedding"], 1, k)}}
  for name, layer in p.items():
    if not name.startswith("layers_"):
      continue
    halves = 1 if name == "layers_0" else 2  # layer 0 reads the embedding, later ones [h_fwd; h_bwd]
    new = {}
    for direction, rnn in layer.items():
      cell = rnn["cell"]
      c = {g: {"kernel": repeat(_read(cell[g]["kernel"], k, halves), 1, k)} for g in _GATES_IN}
      c.update({g: {"kernel": repeat(_read(cell[g]["kernel"], k, 1), 1, k), "bias": repeat(cell[g]["bias"], 0, k)}
                for g in _GATES_H})
      new[direction] = {"cell": c}
    out[name] = new
  head = p["head"]
  out["head"] = {"transform": {"kernel": repeat(_read(head["transform"]["kernel"], k, 2), 1, k),
                               "bias": repeat(head["transform"]["bias"], 0, k)},
                 "norm": {"scale": repeat(head["norm"]["scale"], 0, k) / k,
                          "bias": repeat(head["norm"]["bias"], 0, k) / k},
                 "output_bias": head["output_bias"]}
  if "output" in head:
    out["head"]["output"] = {"kernel": repeat(head["output"]["kernel"], 0, k)}
  return out
