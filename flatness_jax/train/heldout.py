"""Held-out evaluation against the exact optimum.

A fixed set of (sentence, masked position) pairs is drawn once from the evaluation seed. For each pair the exact
conditional p(x_t | x_{−t}) of the generating language gives the optimal loss ℓ*_i = −log p(x_t | x_{−t}), so for
a model with losses ℓ_i the gap to optimal is the paired mean  gap = mean_i(ℓ_i − ℓ*_i)  with standard error
std_i(ℓ_i − ℓ*_i)/√n — far tighter than the SE of either mean, because the sentence-to-sentence variation cancels.
mean_i ℓ*_i is itself an unbiased estimate of the optimal loss L* (Liu et al. 2023, §2) on these pairs.

The relative gap R = mean(ℓ − ℓ*) / mean(ℓ*) divides by an L* estimated on the same pairs, so its standard error
counts both (delta method for a ratio of means, with d_i = ℓ_i − ℓ*_i):
  SE(R) = sd_i(d_i − R ℓ*_i) / (√n · mean(ℓ*)).
The per-pair losses themselves are kept too (flatness_jax.rundir.pair_losses), so two runs can be compared pair
by pair.
"""
import dataclasses

import jax
import numpy as np

from flatness_jax.tokens import batching
from flatness_jax.rundir import pair_losses, records


@dataclasses.dataclass
class HeldOut:
  """Fixed evaluation pairs with their exact optimal losses."""
  inputs: np.ndarray       # [n, L] model ids (PAD, MASK applied)
  positions: np.ndarray    # [n] masked position
  targets: np.ndarray      # [n] true word
  optimal_nll: np.ndarray  # [n] float64, −log p(x_t | x_{−t})
  bayes_correct: np.ndarray  # [n] bool, argmax_w p(w | x_{−t}) == x_t

  @property
  def size(self) -> int:
    return len(self.targets)

  @property
  def digest(self) -> str:
    """A fingerprint of the pairs (equal for every run of a language with the same eval.seed and num_pairs)."""
    return pair_losses.digest(self.inputs, self.positions, self.targets)


@dataclasses.dataclass
class Pairs:
  """(sentence, masked position) pairs without their optimal losses: what curvature estimates need."""
  tokens: np.ndarray       # [n, L] sampled sentences (anything past the length)
  lengths: np.ndarray      # [n]
  inputs: np.ndarray       # [n, L] model ids (PAD, MASK applied)
  positions: np.ndarray    # [n] masked position
  targets: np.ndarray      # [n] true word


def sample_pairs(language, num_pairs: int, seed: int) -> Pairs:
  """`num_pairs` sentences from fold_in(key(seed), 0) with one masked position each from fold_in(key(seed), 1)."""
  key = jax.random.key(seed)
  sample = language.sample(jax.random.fold_in(key, 0), num_pairs)
  tokens, lengths = np.asarray(sample.tokens), np.asarray(sample.lengths)
  batch = jax.device_get(batching.one_mask_batch(jax.random.fold_in(key, 1), tokens, lengths,
                                                 language.vocab_size))
  return Pairs(tokens, lengths, np.asarray(batch["inputs"], np.int32), np.asarray(batch["positions"], np.int32),
               np.asarray(batch["targets"], np.int32))


def make_heldout(language, num_pairs: int, seed: int) -> HeldOut:
  """The pairs of `sample_pairs` with their exact conditionals from the language (the optimal losses)."""
  pairs = sample_pairs(language, num_pairs, seed)
  rows = np.arange(num_pairs)
  cond = np.asarray(language.position_conditionals(pairs.tokens, pairs.lengths, pairs.positions),
                    np.float64)  # [n, V] at the masked position
  p = cond[rows, pairs.targets]
  return HeldOut(inputs=pairs.inputs, positions=pairs.positions, targets=pairs.targets, optimal_nll=-np.log(p),
                 bayes_correct=cond.argmax(-1) == pairs.targets)


def summarize(heldout: HeldOut, nll: np.ndarray, correct: np.ndarray, step: int = 0) -> records.Evaluation:
  """Loss, paired gap to optimal (absolute nats and relative to L*) with standard errors, and accuracies."""
  n = heldout.size
  nll = np.asarray(nll, np.float64)
  diff = nll - heldout.optimal_nll
  opt = float(heldout.optimal_nll.mean())
  gap, gap_se = float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(n))
  rel = gap / opt
  rel_se = float((diff - rel * heldout.optimal_nll).std(ddof=1) / (np.sqrt(n) * opt))
  return records.Evaluation(
      step=step,
      eval_loss=float(nll.mean()),
      eval_loss_se=float(nll.std(ddof=1) / np.sqrt(n)),
      optimal_loss=opt,
      optimal_loss_se=float(heldout.optimal_nll.std(ddof=1) / np.sqrt(n)),
      gap=gap,                           # nats: mean(ℓ_i − ℓ*_i)
      gap_se=gap_se,
      gap_relative=rel,                  # fraction of the optimal loss
      gap_relative_se=rel_se,            # delta method: counts the error of L* on the same pairs
      eval_accuracy=float(np.mean(correct)),
      bayes_accuracy=float(np.mean(heldout.bayes_correct)))


def evaluate_pairs(eval_fn, params, heldout: HeldOut, batch_size: int, to_device):
  """(nll [n], correct [n]): `eval_fn` over the held-out pairs in batches of `batch_size`."""
  nlls, corrects = [], []
  n = heldout.size
  for start in range(0, n, batch_size):
    sl = slice(start, min(start + batch_size, n))
    m = sl.stop - sl.start
    pad = batch_size - m  # keep one compiled shape: pad the last batch by repeating rows

    def take(a, sl=sl, pad=pad):
      x = a[sl]
      return to_device(np.concatenate([x, x[:1].repeat(pad, 0)]) if pad else x)

    nll, correct = eval_fn(params, take(heldout.inputs), take(heldout.positions), take(heldout.targets))
    nll, correct = jax.device_get((nll, correct))
    nlls.append(np.asarray(nll)[:m])
    corrects.append(np.asarray(correct)[:m])
  return np.concatenate(nlls), np.concatenate(corrects)


def evaluate(eval_fn, params, heldout: HeldOut, batch_size: int, to_device) -> records.Evaluation:
  """Runs `eval_fn` over the held-out pairs in batches of `batch_size` and summarises."""
  return summarize(heldout, *evaluate_pairs(eval_fn, params, heldout, batch_size, to_device))
