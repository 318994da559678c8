"""The masked-LM objective of Liu et al. (2023): L(θ) = E_{x,t}[−log f_θ(x_{−t})_{x_t}].

One masked position per sentence, t uniform over its real tokens (`masking='one'`, the paper's objective), or
BERT-style 15% masking with 80/10/10 replacement (`masking='bert'`, the authors' released code), where the loss is
the mean over masked slots (weights mark the used ones). Batches come from flatness_jax.data.batching.
"""
import jax.numpy as jnp
import optax

from flatness_jax.tokens import batching

MASKINGS = ("one", "bert")


def make_batch(key, tokens, lengths, vocab_size: int, masking: str = "one"):
  """A masked batch (inputs, positions, targets[, weights]) from padded sentences, inside jit."""
  if masking == "one":
    return batching.one_mask_batch(key, tokens, lengths, vocab_size)
  if masking == "bert":
    return batching.bert_mask_batch(key, tokens, lengths, vocab_size)
  raise ValueError(f"train.masking={masking!r} is unknown; choose one of {MASKINGS}")


def per_example_nll(model, params, batch, *, train: bool = False, rngs=None):
  """−log f_θ(x_{−t})_{x_t} for every masked slot: shape [B] (one mask) or [B, K] (BERT masking)."""
  logits = model.apply({"params": params}, batch["inputs"], batch["positions"], train=train, rngs=rngs)
  return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), batch["targets"])


def mlm_loss(model, params, batch, *, train: bool = False, rngs=None):
  """The batch's mean masked-LM loss (weighted mean over slots when the batch carries weights)."""
  nll = per_example_nll(model, params, batch, train=train, rngs=rngs)
  if "weights" in batch:
    w = batch["weights"].astype(nll.dtype)
    return jnp.sum(nll * w) / jnp.maximum(jnp.sum(w), 1.0)
  return jnp.mean(nll)


def loss_fn_for(model):
  """loss_fn(params, batch) -> scalar, the inference-mode objective, for the curvature toolkit."""
  return lambda params, batch: mlm_loss(model, params, batch, train=False)


def logits_fn_for(model):
  """logits_fn(params, batch) -> [B, V] logits at the masked positions (one mask), for Fisher estimates."""
  return lambda params, batch: model.apply({"params": params}, batch["inputs"], batch["positions"],
                                           train=False).astype(jnp.float32)
