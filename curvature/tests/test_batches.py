"""The batch contract: example counts from every leaf's leading axis, exact weights for uneven batches, lists and
iterables of batches, and the tuple ambiguity — each silent failure of a first-leaf rule made an error or a right
answer."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from flatness_curvature import batch_weights, hessian_trace, split_batch
from tiny_models import dense_hessian, mlp_batch, mlp_logits, mlp_params, xent


def _state_loss(params, batch):
  """A loss whose batch carries model state next to the examples: 'state' sorts before 'x' and 'y'."""
  return xent(mlp_logits(params, batch["x"]) * batch["state"][0] + batch["state"][1], batch["y"])


def _state_batch(n, seed):
  x, y = mlp_batch(seed, n=n)
  return {"x": x, "y": y, "state": jnp.asarray([1.5, 0.2])}


def _exact_trace(loss_fn, params, batch):
  return float(np.trace(dense_hessian(loss_fn, params, batch)[0]))


def _full_hutchpp(loss_fn, params, batches, **kw):
  """Hutch++ with a sketch spanning all parameters: exact to rounding, so any weighting error shows."""
  n = ravel_pytree(params)[0].size
  return float(hessian_trace(loss_fn, params, batches, jax.random.key(0), method="hutchpp", num_matvecs=3 * n + 2,
                             **kw).value)


def test_dict_batch_with_state_in_two_microbatches(x64):
  """{"x", "y", "state"} of 32 examples: the first leaf ('state', 2 entries) is not the batch size."""
  params, batch = mlp_params(), _state_batch(32, seed=1)
  with pytest.raises(ValueError, match=r"'state' 2, 'x' 32, 'y' 32.*batch_size"):
    split_batch(batch, 2)
  parts = split_batch(batch, 2, batch_size=32)
  assert [p["x"].shape[0] for p in parts] == [16, 16]
  assert all(p["state"] is batch["state"] for p in parts)                # shared, not sliced
  exact = _exact_trace(_state_loss, params, batch)
  np.testing.assert_allclose(_full_hutchpp(_state_loss, params, parts), exact, rtol=1e-9)


def test_uneven_batches_weighted_by_their_examples(x64):
  """Batches of 32 and 16 examples weigh 2/3 and 1/3; with state in the batch the sizes must be given."""
  params = mlp_params()
  b32, b16 = mlp_batch(2, n=32), mlp_batch(3, n=16)
  np.testing.assert_allclose(batch_weights([b32, b16]), [2 / 3, 1 / 3])
  s32, s16 = _state_batch(32, 2), _state_batch(16, 3)
  with pytest.raises(ValueError, match=r"batches\[0\].*'state' 2, 'x' 32.*num_examples"):
    batch_weights([s32, s16])
  np.testing.assert_allclose(batch_weights([s32, s16], num_examples=[32, 16]), [2 / 3, 1 / 3])
  pooled = {"x": jnp.concatenate([s32["x"], s16["x"]]), "y": jnp.concatenate([s32["y"], s16["y"]]),
            "state": s32["state"]}
  exact = _exact_trace(_state_loss, params, pooled)
  np.testing.assert_allclose(_full_hutchpp(_state_loss, params, [s32, s16], num_examples=[32, 16]), exact,
                             rtol=1e-9)
  with pytest.raises(ValueError, match="one positive count per batch"):
    batch_weights([s32, s16], num_examples=[32])


class _Loader:
  """A data loader: iterable (twice), not a pytree, yielding numpy batches with a short last one."""

  def __init__(self, x, y, size):
    self.x, self.y, self.size = np.asarray(x), np.asarray(y), size

  def __iter__(self):
    for i in range(0, len(self.x), self.size):
      yield self.x[i:i + self.size], self.y[i:i + self.size]


def test_generators_and_loaders_of_batches(x64):
  params = mlp_params()
  x, y = mlp_batch(4, n=48)
  exact = _exact_trace(lambda p, b: xent(mlp_logits(p, b[0]), b[1]), params, (x, y))
  loss = lambda p, b: xent(mlp_logits(p, b[0]), b[1])  # noqa: E731
  gen = ((x[i:i + 32], y[i:i + 32]) for i in (0, 32))                   # 32 + 16
  np.testing.assert_allclose(_full_hutchpp(loss, params, gen), exact, rtol=1e-9)
  np.testing.assert_allclose(_full_hutchpp(loss, params, _Loader(x, y, 20)), exact, rtol=1e-9)   # 20 + 20 + 8


def test_a_tuple_is_one_batch_and_a_tuple_of_batches_is_refused(x64):
  b1, b2 = mlp_batch(5), mlp_batch(6)
  assert batch_weights(b1) == [1.0]                                       # (x, y): one batch
  with pytest.raises(ValueError, match=r"tuple is always ONE batch.*list"):
    batch_weights((b1, b2))
  assert batch_weights([b1, b2]) == [0.5, 0.5]
  assert batch_weights([(b1, b2)]) == [1.0]                               # the escape: one batch of two views
  with pytest.raises(ValueError, match="tuple is always ONE batch"):
    hessian_trace(lambda p, b: xent(mlp_logits(p, b[0]), b[1]), mlp_params(), (b1, b2), jax.random.key(0),
                  num_matvecs=4)


def test_split_batch(x64):
  x, y = mlp_batch(7, n=16)
  parts = split_batch((x, y), 4)
  assert [len(p[1]) for p in parts] == [4, 4, 4, 4]
  np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), x)
  with pytest.raises(ValueError, match="do not split into 3"):
    split_batch((x, y), 3)
  with pytest.raises(ValueError, match="no leaf of the batch has a leading axis of that length"):
    split_batch((x, y), 2, batch_size=10)
  with pytest.raises(ValueError, match="has no array with an example axis"):
    batch_weights([{"t": 1.0}, {"t": jnp.ones(())}, {"t": 2.0, "u": jnp.ones(2)}])
