"""Linear probes on frozen features (Liu et al. 2023, §3 and App. A.3).

A probe is a linear softmax classifier  p(y | x) = softmax(W φ(x) + b)  trained on fixed features φ(x) with
AdamW (lr 1e-3, no weight decay), minibatches, for a number of epochs; the paper uses 100 epochs and 5 seeds. We
report, per seed, the test accuracy at the epoch with the best validation accuracy (ties: the earliest), and over
seeds mean ± std. Seeds differ in initialisation and minibatch order; all seeds train at once under `jax.vmap`,
and the epochs run inside one `lax.scan`, so a probe costs one compilation.

Features for our encoders: the concatenated final-layer token representations [L·d] (padding zeroed), or their
mean over real tokens (`pooling='mean'`); see flatness_jax.eval.features.
"""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from flatness_jax.rundir import records


@dataclasses.dataclass
class ProbeResult:
  """Per-seed selected test accuracies and the curves they came from."""
  test_accuracy: np.ndarray   # [seeds], at the validation-selected epoch
  val_accuracy: np.ndarray    # [seeds], best validation accuracy
  best_epoch: np.ndarray      # [seeds] (1-based)
  test_curve: np.ndarray      # [seeds, epochs]
  val_curve: np.ndarray       # [seeds, epochs]
  train_loss: np.ndarray      # [seeds, epochs], mean minibatch loss

  @classmethod
  def from_curves(cls, train_loss, val_curve, test_curve) -> "ProbeResult":
    """Per seed, the test accuracy at the epoch of best validation accuracy, from [seeds, epochs] curves."""
    tl, va, te = (np.asarray(a) for a in (train_loss, val_curve, test_curve))
    best = va.argmax(1)
    rows = np.arange(len(va))
    return cls(test_accuracy=te[rows, best], val_accuracy=va[rows, best], best_epoch=best + 1, test_curve=te,
               val_curve=va, train_loss=tl)

  @property
  def mean(self) -> float:
    return float(self.test_accuracy.mean())

  @property
  def std(self) -> float:
    return float(self.test_accuracy.std(ddof=1)) if len(self.test_accuracy) > 1 else float("nan")

  def record(self) -> records.ProbeAccuracy:
    """The result as the run directory records it (probes.json)."""
    return records.ProbeAccuracy(self.mean, self.std, tuple(self.test_accuracy.tolist()),
                                 best_epoch=tuple(self.best_epoch.tolist()),
                                 val_accuracy=tuple(self.val_accuracy.tolist()))

  def as_dict(self) -> dict:
    return self.record().to_json()


def _accuracy(params, x, y):
  return jnp.mean(jnp.argmax(x @ params["w"] + params["b"], -1) == y)


def train_linear_probe(train, val, test, num_classes: int, *, seeds=(0, 1, 2, 3, 4), epochs: int = 100,
                       learning_rate: float = 1e-3, batch_size: int = 256, weight_decay: float = 0.0,
                       standardize: bool = False) -> ProbeResult:
  """Trains len(seeds) probes on (features, labels) pairs `train`, selecting epochs on `val`, scoring `test`.

  Features are float arrays [n, D], labels int [n]. With `standardize`, features are z-scored with the training
  mean and std (off by default, as in the paper).
  """
  (xtr, ytr), (xva, yva), (xte, yte) = [(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32))
                                        for x, y in (train, val, test)]
  if standardize:
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xva, xte = [(x - mu) / sd for x in (xtr, xva, xte)]
  n = xtr.shape[0]
  if n < 1 or int(jnp.max(ytr)) >= num_classes:
    raise ValueError(f"probe needs labels in [0, {num_classes}) and a non-empty training set")
  keys = jnp.stack([jax.random.key_data(jax.random.key(s)) for s in seeds])
  tl, va, te = _train_probes(keys, xtr, ytr, xva, yva, xte, yte, num_classes=num_classes, epochs=epochs,
                             learning_rate=learning_rate, batch_size=min(batch_size, n), weight_decay=weight_decay)
  return ProbeResult.from_curves(tl, va, te)


@functools.partial(jax.jit, static_argnames=("num_classes", "epochs", "learning_rate", "batch_size",
                                             "weight_decay"))
def _train_probes(keys, xtr, ytr, xva, yva, xte, yte, *, num_classes, epochs, learning_rate, batch_size,
                  weight_decay):
  """Per seed (vmapped over `keys`): minibatch AdamW epochs in a `lax.scan`; per-epoch train loss, val and test
  accuracy. Jitted at module level, so probes of equal shapes and settings share one compiled program."""
  n, dim = xtr.shape
  steps = n // batch_size
  tx = optax.adamw(learning_rate, weight_decay=weight_decay)

  def one_seed(key):
    k_init, k_perm = jax.random.split(jax.random.wrap_key_data(key))
    params = {"w": jax.random.normal(k_init, (dim, num_classes)) / np.sqrt(dim),
              "b": jnp.zeros((num_classes,))}

    def loss(p, x, y):
      return optax.softmax_cross_entropy_with_integer_labels(x @ p["w"] + p["b"], y).mean()

    def epoch(carry, k):
      p, o = carry
      perm = jax.random.permutation(k, n)[: steps * batch_size].reshape(steps, batch_size)

      def step(c, idx):
        p, o = c
        l, g = jax.value_and_grad(loss)(p, xtr[idx], ytr[idx])
        u, o = tx.update(g, o, p)
        return (optax.apply_updates(p, u), o), l

      (p, o), losses = jax.lax.scan(step, (p, o), perm)
      return (p, o), (losses.mean(), _accuracy(p, xva, yva), _accuracy(p, xte, yte))

    _, out = jax.lax.scan(epoch, (params, tx.init(params)), jax.random.split(k_perm, epochs))
    return out

  return jax.vmap(one_seed)(keys)


def split_indices(n: int, fractions=(0.7, 0.1, 0.2), seed: int = 0):
  """Disjoint train/val/test index arrays covering a random permutation of range(n)."""
  perm = np.random.default_rng(seed).permutation(n)
  a = int(round(fractions[0] * n))
  b = a + int(round(fractions[1] * n))
  return perm[:a], perm[a:b], perm[b:]
