"""Each model style a user brings, against dense float64 references computed here independently of the library.

  * a plain jax.numpy MLP with a dict of parameters (the other test files use it throughout),
  * a flax.linen CNN with BatchNorm (variables = params + batch_stats), in eval and in train mode (has_aux),
  * a flax.nnx model with BatchNorm and Dropout (Param, BatchStat and RNG variables),
  * an equinox MLP (a Module with non-array fields).
Passed as they are, the models with state are refused in one sentence (the Hessian would silently include the
running statistics); through their adapter, the Hessian operator equals the dense Hessian with respect to the
trainable parameters only, Hutch++ with a full sketch gives the exact trace, and a new checkpoint (new parameters
and new statistics) reuses the compiled estimator. The flax and equinox tests skip where those are not installed.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import flatness_curvature as fc
from flatness_curvature import _trace
from tiny_models import dense_fisher, dense_matrix, xent


def _dense_hessian(loss_of_flat, flat0, batch):
  return np.asarray(jax.jit(jax.hessian(loss_of_flat))(flat0, batch))


def _check_operator_and_trace(loss_fn, params, batch, h):
  """The Operator's matrix equals h, and Hutch++ with a sketch spanning the space returns tr h."""
  np.testing.assert_allclose(dense_matrix(fc.hessian_matvec(loss_fn, params, batch), params), h, rtol=1e-9,
                             atol=1e-11)
  n = h.shape[0]
  est = fc.hessian_trace(loss_fn, params, batch, jax.random.key(0), method="hutchpp", num_matvecs=3 * n + 2)
  np.testing.assert_allclose(float(est.value), np.trace(h), rtol=1e-9)


def _images(seed, n=8):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.standard_normal((n, 4, 4, 1))), jnp.asarray(rng.integers(0, 3, n))


@pytest.fixture
def linen_cnn(x64):
  nn = pytest.importorskip("flax.linen")

  class CNN(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
      x = nn.Conv(2, (3, 3), param_dtype=jnp.float64)(x)
      x = nn.BatchNorm(use_running_average=not train, param_dtype=jnp.float64)(x)
      return nn.Dense(3, param_dtype=jnp.float64)(jnp.tanh(x).mean(axis=(1, 2)))

  model = CNN()
  x, y = _images(0)
  variables = model.init(jax.random.key(0), x)
  rng = np.random.default_rng(1)   # running statistics far from (0, 1), so that they matter
  variables["batch_stats"] = jax.tree.map(lambda a: jnp.asarray(0.5 + rng.random(a.shape)), variables["batch_stats"])
  return model, variables, (x, y)


def _linen_eval_loss(model):
  def loss(variables, batch):
    return xent(model.apply(variables, batch[0]), batch[1])
  return loss


def test_linen_cnn_with_batchnorm(linen_cnn):
  model, variables, batch = linen_cnn
  loss = _linen_eval_loss(model)
  with pytest.raises(ValueError, match=r"\['batch_stats'\].*linen_loss"):
    fc.hessian_trace(loss, variables, batch, jax.random.key(0), num_matvecs=10)
  flat0, unravel = ravel_pytree(variables["params"])
  h = _dense_hessian(lambda f, b: loss({**variables, "params": unravel(f)}, b), flat0, batch)
  loss_fn, params = fc.linen_loss(loss, variables)
  _check_operator_and_trace(loss_fn, params, batch, h)
  # The GGN of the logits under the cross-entropy is the Fisher: the adapter feeds any operator.
  logits_fn = jax.tree_util.Partial(lambda rest, p, x: model.apply({**rest, "params": p}, x),
                                    {"batch_stats": variables["batch_stats"]})
  np.testing.assert_allclose(dense_matrix(fc.fisher_matvec(logits_fn, params, batch[0]), params),
                             dense_fisher(logits_fn, params, batch[0]), rtol=1e-9, atol=1e-11)


def test_linen_new_checkpoint_reuses_the_compiled_estimator(linen_cnn):
  model, variables, batch = linen_cnn
  loss = _linen_eval_loss(model)
  estimate = lambda v: fc.hessian_trace(*fc.linen_loss(loss, v), batch, jax.random.key(0), num_matvecs=4)  # noqa
  estimate(variables)
  size = _trace._run.compiled._cache_size()  # pylint: disable=protected-access
  moved = jax.tree.map(lambda a: a * 1.1, variables)                    # new params AND new batch_stats
  assert float(estimate(moved).value) != float(estimate(variables).value)
  assert _trace._run.compiled._cache_size() == size  # pylint: disable=protected-access


def test_linen_train_mode_with_aux(linen_cnn):
  """Training-mode BatchNorm returns updated statistics: a (loss, aux) loss with has_aux=True."""
  model, variables, batch = linen_cnn

  def train_loss(v, b):
    logits, updates = model.apply(v, b[0], train=True, mutable=["batch_stats"])
    return xent(logits, b[1]), updates

  loss_fn, params = fc.linen_loss(train_loss, variables)
  flat0, unravel = ravel_pytree(params)
  h = _dense_hessian(lambda f, b: train_loss({**variables, "params": unravel(f)}, b)[0], flat0, batch)
  est = fc.hessian_trace(loss_fn, params, batch, jax.random.key(0), method="hutchpp", num_matvecs=3 * h.shape[0] + 2,
                         has_aux=True)
  np.testing.assert_allclose(float(est.value), np.trace(h), rtol=1e-9)


def test_nnx_model_with_batchnorm_and_dropout(x64):
  nnx = pytest.importorskip("flax.nnx")

  class Net(nnx.Module):
    def __init__(self, rngs):
      self.lin1 = nnx.Linear(3, 5, param_dtype=jnp.float64, rngs=rngs)
      self.bn = nnx.BatchNorm(5, use_running_average=True, param_dtype=jnp.float64, rngs=rngs)
      self.drop = nnx.Dropout(0.5, deterministic=True, rngs=rngs)
      self.lin2 = nnx.Linear(5, 4, param_dtype=jnp.float64, rngs=rngs)

    def __call__(self, x):
      return self.lin2(self.drop(jnp.tanh(self.bn(self.lin1(x)))))

  model = Net(nnx.Rngs(0))
  model.bn.mean[...] = jnp.full(5, 0.3)
  model.bn.var[...] = jnp.full(5, 2.0)
  rng = np.random.default_rng(2)
  batch = (jnp.asarray(rng.standard_normal((12, 3))), jnp.asarray(rng.integers(0, 4, 12)))
  loss = lambda m, b: xent(m(b[0]), b[1])  # noqa: E731
  with pytest.raises(TypeError, match=r"flax.nnx Module.*nnx_loss"):
    fc.hessian_trace(loss, model, batch, jax.random.key(0), num_matvecs=4)
  with pytest.raises(ValueError, match=r"leaf 'bn/mean.*' is an nnx BatchStat"):
    fc.hessian_matvec(lambda s, b: 0.0, nnx.state(model), batch)
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  flat0, unravel = ravel_pytree(params)
  h = _dense_hessian(lambda f, b: loss(nnx.merge(graphdef, unravel(f), rest), b), flat0, batch)
  assert h.shape[0] == 3 * 5 + 5 + 2 * 5 + 5 * 4 + 4                  # Params only, no BatchStat
  loss_fn, params = fc.nnx_loss(loss, model)
  _check_operator_and_trace(loss_fn, params, batch, h)


def test_equinox_mlp(x64):
  eqx = pytest.importorskip("equinox")
  model = eqx.nn.MLP(3, 4, 6, 1, activation=jnp.tanh, key=jax.random.key(0))
  model = jax.tree.map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, model)
  rng = np.random.default_rng(3)
  batch = (jnp.asarray(rng.standard_normal((10, 3))), jnp.asarray(rng.integers(0, 4, 10)))
  loss = lambda m, b: xent(jax.vmap(m)(b[0]), b[1])  # noqa: E731
  with pytest.raises(TypeError, match=r"not an array \(an equinox Module\? .*equinox_loss"):
    fc.hessian_trace(loss, model, batch, jax.random.key(0), num_matvecs=4)
  params, static = eqx.partition(model, eqx.is_inexact_array)
  flat0, unravel = ravel_pytree(params)
  h = _dense_hessian(lambda f, b: loss(eqx.combine(unravel(f), static), b), flat0, batch)
  loss_fn, params = fc.equinox_loss(loss, model)
  _check_operator_and_trace(loss_fn, params, batch, h)
