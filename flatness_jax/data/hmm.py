"""Hidden Markov model languages: sparse random HMMs, keyed sampling, forward–backward conditionals, tasks.

An HMM over hidden states h ∈ {0..H−1} and words w ∈ {0..V−1}: initial π(h), transitions T[h, h'] and emissions
E[h, w], each row drawn from a Dirichlet over a random support (`transition_support` states and `emission_support`
words per row), and sentences of `length` tokens (Liu et al. 2023, §5: 100 hidden states, 200 words, 16 tokens).
With the scaled forward and backward messages
  f_t(h) ∝ P(x_{<t}, h_t = h) (the prediction before x_t),   b_t(h) ∝ P(x_{>t} | h_t = h),
the masked conditional is  p(x_t = w | x_{−t}) ∝ Σ_h f_t(h) b_t(h) E[h, w], and the posterior of the state is
P(h_k = h | x) ∝ f_k(h) b_k(h) E[h, x_k] (Rabiner 1989). Positions past a sentence's length are unobserved.

Tasks `state{k}`: the hidden state at position k (0-based; the paper's k = 6 and 10), with the posterior argmax as
the Bayes-optimal prediction. Presets (`PRESETS`): `paper` (100 states, 200 words, 16 tokens), `cpu` and
`cpu_hard` (16 tokens, small enough for CPU training), `tiny` (enumerable: 2 states, 3 words, 4 tokens). The paper
gives no sparsity or Dirichlet parameters; for `paper` we chose (at seed 0, over a small grid of supports) 10
successor states and 30 words per row, which puts L* near the paper's 3.758.
"""
import dataclasses
import functools

import numpy as np

from flatness_jax.data.language import Language, Sample, Task, numpy_rng

PRESETS = {
    "paper": dict(num_states=100, vocab_size=200, length=16, transition_support=10, transition_concentration=1.0,
                  emission_support=30, emission_concentration=0.5, task_positions=(6, 10)),
    "cpu": dict(num_states=12, vocab_size=50, length=16, transition_support=3, transition_concentration=1.0,
                emission_support=8, emission_concentration=0.5, task_positions=(6, 10)),
    "cpu_hard": dict(num_states=24, vocab_size=50, length=16, transition_support=4, transition_concentration=1.0,
                     emission_support=8, emission_concentration=0.5, task_positions=(6, 10)),
    "tiny": dict(num_states=2, vocab_size=3, length=4, transition_support=2, transition_concentration=1.0,
                 emission_support=2, emission_concentration=1.0, task_positions=(1, 3)),
}


@dataclasses.dataclass(frozen=True, eq=False)
class HMM:
  initial: np.ndarray     # [H]
  transition: np.ndarray  # [H, H], rows sum to 1
  emission: np.ndarray    # [H, V], rows sum to 1
  length: int
  task_positions: tuple = ()
  name: str = "hmm"

  @property
  def num_states(self) -> int:
    return len(self.initial)

  @property
  def vocab_size(self) -> int:
    return self.emission.shape[1]

  @functools.cached_property
  def state_marginals(self) -> np.ndarray:
    """P(h_t = h) for t = 0..length−1, [L, H]."""
    out = [self.initial]
    for _ in range(self.length - 1):
      out.append(out[-1] @ self.transition)
    return np.stack(out)


def _sparse_rows(rng, rows, cols, support, concentration):
  out = np.zeros((rows, cols))
  for r in range(rows):
    idx = rng.choice(cols, size=support, replace=False)
    out[r, idx] = rng.dirichlet(np.full(support, concentration))
  return out / out.sum(1, keepdims=True)


def random_hmm(preset: str, seed: int, **overrides) -> HMM:
  """The HMM of a preset (`PRESETS`, with `overrides`) drawn with `seed`; the same seed gives the same HMM."""
  if preset not in PRESETS:
    raise ValueError(f"unknown hmm preset {preset!r}; known: {sorted(PRESETS)}")
  cfg = dict(PRESETS[preset], **overrides)
  h, v = cfg["num_states"], cfg["vocab_size"]
  if not (1 <= cfg["transition_support"] <= h and 1 <= cfg["emission_support"] <= v):
    raise ValueError(f"supports must be within the number of states/words: {cfg}")
  rng = np.random.default_rng(seed)
  transition = _sparse_rows(rng, h, h, cfg["transition_support"], cfg["transition_concentration"])
  emission = _sparse_rows(rng, h, v, cfg["emission_support"], cfg["emission_concentration"])
  positions = tuple(k for k in cfg["task_positions"] if k < cfg["length"])
  return HMM(initial=np.full(h, 1.0 / h), transition=transition, emission=emission, length=cfg["length"],
             task_positions=positions, name=f"hmm-{preset}-seed{seed}")


def _cumulative(probs):
  """Row-wise cumulative sums + row ids, flattened, for one searchsorted over many rows."""
  cum = np.cumsum(probs, axis=1)
  cum /= cum[:, -1:]
  cum[:, -1] = 1.0
  return (cum + np.arange(len(probs))[:, None]).ravel()


def _draw(cum_flat, width, rows, u):
  idx = np.searchsorted(cum_flat, rows + u, side="right") - rows * width
  return np.clip(idx, 0, width - 1)


def sample(hmm: HMM, key, n: int) -> Sample:
  """`n` sentences (all of `hmm.length` tokens) with their hidden states (latents, int32 [n, L])."""
  rng = numpy_rng(key)
  h, v, length = hmm.num_states, hmm.vocab_size, hmm.length
  trans, emit = _cumulative(hmm.transition), _cumulative(hmm.emission)
  init = _cumulative(hmm.initial[None])
  states = np.zeros((n, length), np.int64)
  words = np.zeros((n, length), np.int64)
  states[:, 0] = _draw(init, h, np.zeros(n, np.int64), rng.random(n))
  for t in range(length):
    if t:
      states[:, t] = _draw(trans, h, states[:, t - 1], rng.random(n))
    words[:, t] = _draw(emit, v, states[:, t], rng.random(n))
  return Sample(tokens=words.astype(np.int32), lengths=np.full(n, length, np.int32), latents=states.astype(np.int32))


def _messages(hmm: HMM, tokens, lengths):
  """Scaled predictions f_t (before x_t) and backward messages b_t, [n, L, H] each; padding unobserved."""
  tokens = np.asarray(tokens)
  n, length = tokens.shape
  valid = np.arange(length) < np.asarray(lengths)[:, None]
  lik = np.where(valid[..., None], hmm.emission.T[np.where(valid, tokens, 0)], 1.0)  # [n, L, H]
  pred = np.empty((n, length, hmm.num_states))
  back = np.empty_like(pred)
  f = np.broadcast_to(hmm.initial, (n, hmm.num_states))
  for t in range(length):
    pred[:, t] = f
    post = f * lik[:, t]
    z = post.sum(1, keepdims=True)
    f = np.divide(post, z, out=np.zeros_like(post), where=z > 0) @ hmm.transition
  b = np.ones((n, hmm.num_states))
  for t in range(length - 1, -1, -1):
    back[:, t] = b
    if t:
      b = (lik[:, t] * b) @ hmm.transition.T
      z = b.sum(1, keepdims=True)
      b = np.divide(b, z, out=np.zeros_like(b), where=z > 0)
  return pred, back, lik, valid


def masked_conditionals(hmm: HMM, tokens, lengths, messages=None) -> np.ndarray:
  """p(x_t = w | x_{−t}) float64 [n, L, V] by forward–backward; zeros at padding."""
  pred, back, _, valid = messages or _messages(hmm, tokens, lengths)
  joint = (pred * back) @ hmm.emission
  z = joint.sum(-1, keepdims=True)
  return np.divide(joint, z, out=np.zeros_like(joint), where=valid[..., None] & (z > 0))


def state_posteriors(hmm: HMM, tokens, lengths, messages=None) -> np.ndarray:
  """P(h_t = h | x) [n, L, H]."""
  pred, back, lik, _ = messages or _messages(hmm, tokens, lengths)
  post = pred * back * lik
  z = post.sum(-1, keepdims=True)
  return np.divide(post, z, out=np.zeros_like(post), where=z > 0)


def log_likelihood(hmm: HMM, tokens, lengths) -> np.ndarray:
  """log p(x) per sentence (forward algorithm with scaling)."""
  tokens = np.asarray(tokens)
  n, length = tokens.shape
  valid = np.arange(length) < np.asarray(lengths)[:, None]
  f = np.broadcast_to(hmm.initial, (n, hmm.num_states))
  total = np.zeros(n)
  for t in range(length):
    lik = np.where(valid[:, t, None], hmm.emission[:, np.where(valid[:, t], tokens[:, t], 0)].T, 1.0)
    post = f * lik
    z = post.sum(1)
    total += np.log(z)
    f = (post / z[:, None]) @ hmm.transition
  return total


class HMMLanguage(Language):
  """An HMM as a `Language`, with tasks `state{k}` for k in `hmm.task_positions`."""

  def __init__(self, hmm: HMM, batch_size: int = 1024):
    super().__init__(hmm.name, hmm.vocab_size, hmm.length, hmm.length, batch_size)
    self.hmm = hmm
    self.tasks = {f"state{k}": self._state_task(k) for k in hmm.task_positions}

  def messages(self, tokens, lengths):
    """Forward–backward messages of a batch (the last one is cached, so tasks and conditionals share it)."""
    return self.cached(tokens, lengths, lambda t, l: _messages(self.hmm, t, l))

  def _state_task(self, k: int) -> Task:
    def labels(sample):
      return np.asarray(sample.latents)[:, k].astype(np.int32)

    def posterior(tokens, lengths):
      return self.batched(lambda t, l: state_posteriors(self.hmm, t, l, self.messages(t, l))[:, k], tokens, lengths)

    def bayes(sample):
      return posterior(sample.tokens, sample.lengths).argmax(1).astype(np.int32)

    return Task(name=f"state{k}", num_classes=self.hmm.num_states, labels=labels, bayes_predictions=bayes,
                description=f"hidden state at position {k} (0-based)",
                class_names=tuple(f"h{i}" for i in range(self.hmm.num_states)), posterior=posterior,
                prior=self.hmm.state_marginals[k])

  def sample(self, key, n: int) -> Sample:
    return sample(self.hmm, key, n)

  def _conditionals(self, tokens, lengths, out=None):
    return masked_conditionals(self.hmm, tokens, lengths, self.messages(tokens, lengths))

  def log_likelihood(self, tokens, lengths) -> np.ndarray:
    return self.batched(lambda t, l: log_likelihood(self.hmm, t, l), tokens, lengths)
