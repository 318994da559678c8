"""Device mesh and sharding rules: the one table that decides where every array lives.

Model code names the logical axes of its parameters (`nn.with_logical_partitioning`, names such as 'embed',
'mlp', 'heads', 'vocab'); this module maps logical names to mesh axes and builds `NamedSharding`s for `jax.jit`
(the modern pjit). The mesh has two axes:

  'data'  : the batch is split over it; with FSDP the parameters and optimizer state are too (ZeRO-3 style:
            XLA all-gathers a layer's weights where they are used and reduce-scatters their gradients);
  'model' : an optional tensor-parallel axis (size 1 by default) over which MLP and attention-head dimensions
            are split (Megatron-style).

Axis types are `Auto` (sharding propagated by XLA), because `jax.make_mesh` defaults to Explicit axis types
which break linen's embedding lookup on sharded ids. A dimension that is not divisible by its mesh axis stays
replicated rather than failing, so one table serves every model size.
"""
from typing import Any, Sequence

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"
MODEL_AXIS = "model"

# Logical axis name -> mesh axis (None: replicated). FSDP adds ('embed', 'data') in front: see `rules`.
TENSOR_PARALLEL_RULES = (
    ("batch", DATA_AXIS),
    ("vocab", MODEL_AXIS),
    ("mlp", MODEL_AXIS),
    ("heads", MODEL_AXIS),
    ("kv", None),
    ("embed", None),
    ("length", None),
    ("layers", None),
)


def rules(fsdp: bool) -> tuple[tuple[str, Any], ...]:
  """The logical-to-mesh rules; with `fsdp`, parameters' 'embed' dimension is sharded over the data axis."""
  if not fsdp:
    return TENSOR_PARALLEL_RULES
  return tuple(("embed", DATA_AXIS) if name == "embed" else (name, axis)
               for name, axis in TENSOR_PARALLEL_RULES)


def make_mesh(model_parallelism: int = 1, devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A ('data', 'model') mesh over all devices (or `devices`); model_parallelism=-1 puts all devices on 'model'."""
  devices = list(jax.devices() if devices is None else devices)
  n = len(devices)
  tp = n if model_parallelism == -1 else model_parallelism
  if tp < 1 or n % tp:
    raise ValueError(f"parallel.model_parallelism={model_parallelism} does not divide the {n} devices")
  dev = np.asarray(devices).reshape(n // tp, tp)
  return Mesh(dev, (DATA_AXIS, MODEL_AXIS), axis_types=(AxisType.Auto, AxisType.Auto))


def _mesh_spec(logical_spec, shape, mesh: Mesh, rule_table) -> P:
  """Maps one logical PartitionSpec to a mesh PartitionSpec, replicating dimensions that do not divide."""
  table = dict(rule_table)
  out, used = [], set()
  for dim, name in zip(shape, tuple(logical_spec) + (None,) * (len(shape) - len(logical_spec))):
    axis = table.get(name) if name is not None else None
    if axis is None or axis in used or dim % mesh.shape[axis]:
      out.append(None)
    else:
      out.append(axis)
      used.add(axis)
  return P(*out)


def param_shardings(boxed_abstract_params, mesh: Mesh, fsdp: bool = False):
  """NamedShardings for a (possibly logically boxed) abstract parameter tree, with the boxes removed.

  `boxed_abstract_params` is `jax.eval_shape(model.init, ...)['params']`; leaves without logical names are
  replicated. The result has the structure of `nn.unbox(params)`.
  """
  specs = nn.get_partition_spec(boxed_abstract_params)
  shapes = nn.unbox(boxed_abstract_params)
  table = rules(fsdp)
  return jax.tree.map(lambda spec, x: NamedSharding(mesh, _mesh_spec(spec, x.shape, mesh, table)),
                      specs, shapes, is_leaf=lambda s: isinstance(s, P))


def replicated(mesh: Mesh) -> NamedSharding:
  """A sharding that puts a full copy on every device."""
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, leading_unsharded: int = 0) -> NamedSharding:
  """Shards an array's batch dimension (after `leading_unsharded` dims, e.g. a scan axis) over 'data'."""
  return NamedSharding(mesh, P(*([None] * leading_unsharded), DATA_AXIS))
