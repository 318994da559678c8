"""Training state and its sharded initialisation.

The state is a plain pytree (step, params, opt_state, algo) of unboxed arrays; `algo` is the training algorithm's
own small state ({} for AdamW/SGD/SAM; the adversary's probe head {"head": {"w", "b"}} for adversarial
pre-training, flatness_jax.train.adversarial), checkpointed with the rest. Shardings come from the model's logical
axis names through flatness_jax.parallel.mesh (one table), and the optimizer state's param-shaped leaves inherit
their parameter's sharding (optax.tree_utils.tree_map_params). `init_train_state` runs the initialiser under
`jax.jit(..., out_shardings=...)`, so parameters are created already sharded: no device ever holds a full copy
of a model that does not fit on it.
"""
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from flatness_jax.parallel import mesh as mesh_lib


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any
  algo: Any = flax.struct.field(default_factory=dict)


def dummy_inputs(max_length: int, batch: int = 1):
  """Token ids and one masked position per row, shaped like a training batch (for init/eval_shape)."""
  return jnp.zeros((batch, max_length), jnp.int32), jnp.zeros((batch,), jnp.int32)


def abstract_params(model: nn.Module, max_length: int):
  """The boxed abstract parameter tree (shapes, dtypes, logical axis names) without allocating memory."""
  tokens, positions = dummy_inputs(max_length)
  return jax.eval_shape(lambda k: model.init(k, tokens, positions)["params"], jax.random.key(0))


def state_shardings(model: nn.Module, tx: optax.GradientTransformation, mesh, max_length: int,
                    fsdp: bool = False, algo=None):
  """(abstract_state, shardings): the TrainState's shapes and the NamedSharding of every leaf; `algo` is the
  algorithm state's abstract pytree (ShapeDtypeStructs; replicated)."""
  boxed = abstract_params(model, max_length)
  p_shard = mesh_lib.param_shardings(boxed, mesh, fsdp)
  params = nn.unbox(boxed)
  opt_state = jax.eval_shape(tx.init, params)
  rep = mesh_lib.replicated(mesh)
  o_shard = optax.tree_utils.tree_map_params(tx, lambda _, s: s, opt_state, p_shard,
                                             transform_non_params=lambda _: rep)
  algo = algo or {}
  abstract = TrainState(step=jax.ShapeDtypeStruct((), jnp.int32), params=params, opt_state=opt_state, algo=algo)
  shardings = TrainState(step=rep, params=p_shard, opt_state=o_shard, algo=jax.tree.map(lambda _: rep, algo))
  abstract = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, shardings)
  return abstract, shardings


def init_train_state(model: nn.Module, tx: optax.GradientTransformation, key, shardings, max_length: int,
                     algo=None):
  """Initialises params and optimizer state directly into `shardings` (jit with out_shardings); the algorithm
  state starts at zeros of the abstract `algo` pytree."""
  tokens, positions = dummy_inputs(max_length)
  algo = algo or {}

  def init(k):
    params = nn.unbox(model.init(k, tokens, positions)["params"])
    zeros = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), algo)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params), algo=zeros)

  return jax.jit(init, out_shardings=shardings)(key)

