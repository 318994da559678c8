"""Resource plan of a training config on a mesh: parameters, memory per device, FLOPs per step, step time.

Everything is computed from shapes (no device memory is touched), so a plan for a 256-chip mesh runs on a laptop.

Parameters: N is exact, from `jax.eval_shape` of the model's init (the same abstract tree training uses). Per-device
parameter bytes apply the sharding table of flatness_jax.parallel.mesh (`rules(fsdp)`) leaf by leaf to an abstract
('data', 'model') mesh: a dimension is split only where its logical axis maps to a mesh axis that divides it (as in
training), so with FSDP a width d that the data axis does not divide stays replicated, and the plan shows it.

Training state per device (float32 parameters, AdamW):
    params 4 B/param + gradients 4 B/param + AdamW moments (mu, nu) 8 B/param   = 16 B per local parameter,
each divided by its leaf's shard count (FSDP: ≈ ÷ data-axis size; tensor parallelism: MLP/head dims ÷ model-axis
size). With FSDP, XLA also all-gathers one block's weights at a time in the compute dtype (`fsdp_gather_bytes`).

Activations saved for the backward pass of a pre-LN transformer (batch b = B / data per device, length L, width d,
attention width a = h·hd, FFN f, heads h, layers n, compute-dtype bytes p; t = model-axis size splits a, f, h):
    per layer and sequence:  p·L·(4d + 4a/t + 2f/t)  +  (h/t)·L²·(4 + p)        [p = 4: (h/t)·L²·4]
        4d: block input, LN₁ output, residual after attention, LN₂ output;  4a: q, k, v, attention context;
        2f: FFN pre-activation and GELU output;  L²: attention probabilities in float32 (the model computes the
        softmax in float32) and their cast to p for probs·v (the same tensor when p = 4).
    plus per sequence: 2·p·L·d (embedding sum and its LayerNorm) + K·(3d·p + 2·4·V) (head at the K masked
    positions: gathered state, transform, LN; float32 logits and their softmax).
  activations = b · (n · per_layer + embedding/head terms). This is the Korthikanti et al. (2022) count without
  dropout (their 34·sbh + 5·as²b bytes for p = 2, f = 4d, with dropout) and without recomputation: a lower bound
  on what the backward pass needs. XLA keeps more (e.g. erf-GELU and LayerNorm intermediates): compiled for CPU,
  the per-layer temporary memory of a d=256, f=1024, L=32 model in float32 was 1.9x the formula (2.0x overall), so
  the plan budgets XLA_ACTIVATION_FACTOR = 2 x the formula. FSDP does not change activations; it shards state only.

FLOPs per step (multiply-adds count 2; forward + backward = 3 × forward):
    dense   6 · N_blocks · B·L          N_blocks = n·(4·d·a + 2·d·f): the block matmuls, applied at every position
    attn    12 · n · L² · a · B         q·kᵀ and probs·v (2·L²·a each, forward)
    head    6 · (d² + d·V) · B·K        the MLM head runs only at the K masked positions (K = 1 for masking='one')
  and BertMLM (without scan_layers) runs its last block's queries, output projection and FFN at the K masked rows
  only: dense − 6·(2·d·a + 2·d·f)·B·(L − K), attn − 12·L·a·B·(L − K).
  Embedding lookups are gathers (no FLOPs). Layer norms, GELU, softmax and the optimizer update are not counted
  (XLA's cost analysis of a d=128 model counts ≈ 5% more for these; tests/parallel/test_plan.py checks the
  formula against `compile().cost_analysis()['flops']`). Padding counts: every sentence is run at length L.

Step time. Compute: FLOPs / (devices · peak · MFU), for stated bf16 peaks and an assumed MFU (default 40%; the MFU
measured by launch/gpu_check.sh replaces the assumption). Communication over the data axis (D devices, N params,
compute-dtype bytes p), per device and step:
    data parallel: all-reduce of float32 gradients         2 · (D−1)/D · 4·N bytes
    FSDP:          all-gather weights for forward and backward, reduce-scatter float32 gradients
                                                           (D−1)/D · (2p + 4)·N_sharded bytes (+ the all-reduce of
                                                           the N − N_sharded replicated parameters)
  at the device's interconnect bandwidth times an assumed 50% collective efficiency. The estimated step time is
  max(compute, communication) (XLA overlaps collectives with compute); a model axis > 1 adds tensor-parallel
  activation traffic that is not modelled.
"""
import dataclasses
import math
from typing import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import AbstractMesh, AxisType

from flatness_jax import models as models_lib
from flatness_jax.parallel import mesh as mesh_lib

GiB = 1024 ** 3
BYTES_PER_PARAM_STATE = {"params": 4, "grads": 4, "adam_moments": 8}  # float32 params, grads, (mu, nu)
DEFAULT_MFU = 0.4
XLA_ACTIVATION_FACTOR = 2.0  # planned activations / formula (measured on XLA:CPU; see the module docstring)
COMM_EFFICIENCY = 0.5  # fraction of the nominal interconnect bandwidth a collective achieves (assumption)


@dataclasses.dataclass(frozen=True)
class Hardware:
  """One accelerator: dense bf16 peak (FLOP/s), memory (bytes) and interconnect bandwidth (bytes/s) per device."""
  name: str
  peak_flops: float
  memory_bytes: int
  link_bytes_per_s: float
  description: str


HARDWARE = {
    "tpu_v5e": Hardware("tpu_v5e", 197e12, 16 * GiB, 200e9,
                        "TPU v5e chip: 197 TFLOP/s bf16, 16 GiB HBM, ICI 1,600 Gbit/s"),
    "h100": Hardware("h100", 989e12, 80 * GiB, 450e9,
                     "H100 SXM: 989 TFLOP/s bf16 dense, 80 GiB HBM, NVLink 450 GB/s per direction"),
    # Nominal: a few AVX-512 cores in float32. Measure before trusting (launch/gpu_check.py --tiny prints it).
    "cpu": Hardware("cpu", 1e11, 16 * GiB, 10e9, "CPU host (nominal 100 GFLOP/s float32, 16 GiB)"),
}


@dataclasses.dataclass(frozen=True)
class TransformerShape:
  """The sizes that decide a BERT model's FLOPs and activations."""
  d: int   # residual width
  n: int   # layers
  h: int   # heads
  a: int   # attention width h · head_dim
  f: int   # FFN width
  vocab: int
  length: int  # sequence length L (padded)
  masked: int  # masked positions per sequence K
  last_at_masked: bool = True  # the last block runs at the K masked rows only (BertMLM without scan_layers)

  @property
  def block_params(self) -> int:
    """Matmul weights of all blocks, n·(4·d·a + 2·d·f) (biases and norms excluded)."""
    return self.n * (4 * self.d * self.a + 2 * self.d * self.f)


def masked_positions(masking: str, length: int) -> int:
  """K, the head's positions per sequence: 1 for masking='one', ⌈0.15·L⌉ for 'bert' (BERT's 15%)."""
  if masking == "one":
    return 1
  if masking == "bert":
    return max(1, math.ceil(0.15 * length))
  raise ValueError(f"masking must be 'one' or 'bert', got {masking!r}")


def transformer_shape(model_config, vocab_size: int, length: int, masking: str = "one") -> TransformerShape:
  """TransformerShape of a (preset-resolved) bert model config; ValueError for other kinds."""
  c = models_lib.resolve_model_config(model_config)
  if c.kind != "bert":
    raise ValueError(f"FLOPs/activation formulas cover model.kind='bert' only, got {c.kind!r}")
  hd = c.head_dim or c.d_model // c.num_heads
  return TransformerShape(d=c.d_model, n=c.num_layers, h=c.num_heads, a=c.num_heads * hd, f=c.d_ff,
                          vocab=vocab_size, length=length, masked=masked_positions(masking, length),
                          last_at_masked=not c.scan_layers)


def parse_mesh(spec: str) -> dict[str, int]:
  """'data:256,model:1' -> {'data': 256, 'model': 1} (a missing axis has size 1)."""
  out = {mesh_lib.DATA_AXIS: 1, mesh_lib.MODEL_AXIS: 1}
  for part in filter(None, (p.strip() for p in spec.split(","))):
    name, _, size = part.partition(":")
    if name not in out or not size.isdigit() or int(size) < 1:
      raise ValueError(f"--mesh: expected 'data:N,model:M', got {spec!r}")
    out[name] = int(size)
  return out


def abstract_mesh(mesh_shape: Mapping[str, int]) -> AbstractMesh:
  """A device-free ('data', 'model') mesh of the given sizes (enough to apply the sharding table)."""
  axes = (mesh_lib.DATA_AXIS, mesh_lib.MODEL_AXIS)
  return AbstractMesh(tuple(mesh_shape[a] for a in axes), axes, axis_types=(AxisType.Auto, AxisType.Auto))


def boxed_abstract_params(model_config, vocab_size: int, length: int):
  """The model's boxed abstract parameter tree (shapes, dtypes, logical axis names) via jax.eval_shape."""
  model = models_lib.make_model(model_config, vocab_size, length)
  tokens, positions = jnp.zeros((1, length), jnp.int32), jnp.zeros((1,), jnp.int32)
  return jax.eval_shape(lambda k: model.init(k, tokens, positions)["params"], jax.random.key(0))


def param_count(boxed) -> int:
  """Exact number of parameters of an abstract (boxed or plain) tree."""
  return int(sum(math.prod(x.shape) for x in jax.tree.leaves(nn.unbox(boxed))))


def local_param_count(boxed, mesh_shape: Mapping[str, int], fsdp: bool) -> int:
  """Parameters held by one device: each leaf's size divided by the mesh axes its dimensions are split over."""
  mesh = abstract_mesh(mesh_shape)
  specs = nn.get_partition_spec(boxed)
  shapes = nn.unbox(boxed)
  table = mesh_lib.rules(fsdp)
  total = 0
  for spec, x in zip(jax.tree.leaves(specs, is_leaf=lambda s: isinstance(s, jax.sharding.PartitionSpec)),
                     jax.tree.leaves(shapes)):
    mesh_spec = mesh_lib._mesh_spec(spec, x.shape, mesh, table)  # pylint: disable=protected-access
    split = math.prod(mesh_shape[axis] for axis in mesh_spec if axis is not None)
    total += math.prod(x.shape) // split
  return total


def largest_block_params(boxed) -> int:
  """Parameters of the largest top-level subtree named layers_* (one transformer block; FSDP gathers one)."""
  params = nn.unbox(boxed)
  sizes = [param_count(v) for k, v in params.items() if k.startswith("layers")]
  if "layers" in params:  # scan_layers: stacked blocks
    n = jax.tree.leaves(params["layers"])[0].shape[0]
    sizes = [param_count(params["layers"]) // n]
  return max(sizes, default=0)


def activation_bytes(shape: TransformerShape, local_batch: float, compute_bytes: int, model_axis: int = 1) -> float:
  """Activations saved for backward on one device (the formula in the module docstring)."""
  s, p, t = shape, compute_bytes, model_axis
  probs_bytes = 4 + (p if p != 4 else 0)
  per_layer = p * s.length * (4 * s.d + (4 * s.a + 2 * s.f) / t) + (s.h / t) * s.length ** 2 * probs_bytes
  outside = 2 * p * s.length * s.d + s.masked * (3 * s.d * p + 2 * 4 * s.vocab)
  return local_batch * (s.n * per_layer + outside)


def train_flops(shape: TransformerShape, batch: int) -> dict[str, float]:
  """Model FLOPs of one training step on `batch` sequences (forward + backward; formula in the module docstring)."""
  s = shape
  dense = 6.0 * s.block_params * batch * s.length
  attention = 12.0 * s.n * s.length ** 2 * s.a * batch
  if s.last_at_masked and s.n >= 1:  # the last block: keys/values at L rows, the rest at K rows
    dense -= 6.0 * (2 * s.d * s.a + 2 * s.d * s.f) * batch * (s.length - s.masked)
    attention -= 12.0 * s.length * s.a * batch * (s.length - s.masked)
  head = 6.0 * (s.d * s.d + s.d * s.vocab) * batch * s.masked
  return {"dense": dense, "attention": attention, "head": head, "total": dense + attention + head}


def data_axis_comm_bytes(num_params: int, tp_local: int, local: int, data: int, fsdp: bool, p: int) -> float:
  """Bytes one device sends per step over the data axis (formula in the module docstring).

  num_params: all parameters; tp_local: per-device parameters without data sharding (after tensor parallelism);
  local: per-device parameters with this mesh's data sharding.
  """
  if data == 1:
    return 0.0
  frac = (data - 1) / data
  if not fsdp:
    return 2 * frac * 4 * tp_local
  sharded = (tp_local - local) * data / (data - 1)  # parameters split over 'data' (per model-axis shard)
  replicated = tp_local - sharded
  return frac * (2 * p + 4) * sharded + 2 * frac * 4 * replicated


@dataclasses.dataclass
class Plan:
  """A config's resource plan on one mesh and device type (bytes are per device)."""
  name: str
  num_params: int
  local_params: int
  mesh_shape: dict
  fsdp: bool
  batch: int
  length: int
  compute_dtype: str
  hardware: Hardware
  mfu: float
  param_bytes: float
  grad_bytes: float
  optimizer_bytes: float
  activation_bytes: float
  fsdp_gather_bytes: float
  comm_bytes: float
  flops: dict

  @property
  def num_devices(self) -> int:
    return math.prod(self.mesh_shape.values())

  @property
  def planned_activation_bytes(self) -> float:
    return XLA_ACTIVATION_FACTOR * self.activation_bytes

  @property
  def total_bytes(self) -> float:
    return (self.param_bytes + self.grad_bytes + self.optimizer_bytes + self.planned_activation_bytes
            + self.fsdp_gather_bytes)

  @property
  def fits(self) -> bool:
    return self.total_bytes <= 0.9 * self.hardware.memory_bytes  # ~10% for XLA workspace and fragmentation

  @property
  def compute_seconds(self) -> float:
    return self.flops["total"] / (self.num_devices * self.hardware.peak_flops * self.mfu)

  @property
  def comm_seconds(self) -> float:
    return self.comm_bytes / (self.hardware.link_bytes_per_s * COMM_EFFICIENCY)

  @property
  def step_seconds(self) -> float:
    """max(compute, communication): collectives assumed overlapped with compute."""
    return max(self.compute_seconds, self.comm_seconds)

  @property
  def tokens_per_step(self) -> int:
    return self.batch * self.length


def make_plan(model_config, vocab_size: int, length: int, batch: int, mesh_shape: Mapping[str, int],
              fsdp: bool, hardware: str | Hardware = "tpu_v5e", mfu: float = DEFAULT_MFU, masking: str = "one",
              name: str = "") -> Plan:
  """The resource plan of training `model_config` (V = vocab_size, length L, global batch) on `mesh_shape`."""
  hw = HARDWARE[hardware] if isinstance(hardware, str) else hardware
  mesh_shape = dict(mesh_shape)
  data, tp = mesh_shape[mesh_lib.DATA_AXIS], mesh_shape[mesh_lib.MODEL_AXIS]
  if batch % data:
    raise ValueError(f"batch {batch} is not divisible by the data axis ({data})")
  c = models_lib.resolve_model_config(model_config)
  boxed = boxed_abstract_params(c, vocab_size, length)
  n_local = local_param_count(boxed, mesh_shape, fsdp)
  p = jnp.dtype(c.dtype).itemsize
  shape = transformer_shape(c, vocab_size, length, masking)
  gather = largest_block_params(boxed) * p if fsdp and data > 1 else 0
  n_all = param_count(boxed)
  return Plan(name=name or model_config.get("preset", "") or "model", num_params=param_count(boxed),
              local_params=n_local, mesh_shape=mesh_shape, fsdp=fsdp, batch=batch, length=length,
              compute_dtype=c.dtype, hardware=hw, mfu=mfu,
              param_bytes=BYTES_PER_PARAM_STATE["params"] * n_local,
              grad_bytes=BYTES_PER_PARAM_STATE["grads"] * n_local,
              optimizer_bytes=BYTES_PER_PARAM_STATE["adam_moments"] * n_local,
              activation_bytes=activation_bytes(shape, batch / data, p, tp), fsdp_gather_bytes=gather,
              comm_bytes=data_axis_comm_bytes(n_all, local_param_count(boxed, {**mesh_shape, "data": 1}, fsdp),
                                              n_local, data, fsdp, p),
              flops=train_flops(shape, batch))


def _gib(x: float) -> str:
  return f"{x / GiB:.3f} GiB" if x < 10 * GiB else f"{x / GiB:.1f} GiB"


def format_plan(plan: Plan) -> str:
  """A human-readable report of one plan."""
  mesh = ",".join(f"{k}:{v}" for k, v in plan.mesh_shape.items())
  f = plan.flops
  lines = [
      f"plan: {plan.name} on {plan.num_devices} x {plan.hardware.description}",
      f"  mesh {mesh}, fsdp={plan.fsdp}, global batch {plan.batch} x length {plan.length} "
      f"({plan.tokens_per_step:,} token slots/step), compute {plan.compute_dtype}",
      f"  parameters            {plan.num_params:,} (exact; {plan.local_params:,} per device)",
      "  memory per device:",
      f"    parameters (f32)    {_gib(plan.param_bytes)}",
      f"    gradients (f32)     {_gib(plan.grad_bytes)}",
      f"    AdamW mu, nu (f32)  {_gib(plan.optimizer_bytes)}",
      f"    activations         {_gib(plan.planned_activation_bytes)}  (batch "
      f"{plan.batch // plan.mesh_shape['data']} per device: {XLA_ACTIVATION_FACTOR:g} x the saved-for-backward "
      f"formula's {_gib(plan.activation_bytes)}; see flatness_jax/parallel/resources.py)",
  ]
  if plan.fsdp_gather_bytes:
    lines.append(f"    FSDP gathered block {_gib(plan.fsdp_gather_bytes)}")
  lines += [
      f"    total               {_gib(plan.total_bytes)} of {_gib(plan.hardware.memory_bytes)}  "
      f"-> {'fits' if plan.fits else 'DOES NOT FIT (use fsdp, more devices or a smaller batch)'}",
      f"  FLOPs per step        {f['total']:.4g}  (dense {f['dense']:.3g}, attention {f['attention']:.3g}, "
      f"MLM head {f['head']:.3g})",
      f"  compute time          {plan.compute_seconds * 1e3:.3g} ms at {100 * plan.mfu:.0f}% MFU",
      f"  data-axis traffic     {plan.comm_bytes / GiB:.3f} GiB/device/step -> {plan.comm_seconds * 1e3:.3g} ms at "
      f"{100 * COMM_EFFICIENCY:.0f}% of {plan.hardware.link_bytes_per_s / 1e9:.0f} GB/s",
      f"  est. step time        {plan.step_seconds * 1e3:.3g} ms = max(compute, traffic) "
      f"({plan.tokens_per_step / plan.step_seconds:,.0f} tokens/s)",
  ]
  if plan.compute_dtype != "bfloat16" and plan.hardware.name != "cpu":
    lines.append("  note: model.dtype is float32; the step time assumes the bf16 peak (set model.dtype=bfloat16)")
  return "\n".join(lines)


PAPER_VOCAB, PAPER_LENGTH, PAPER_BATCH = 200, 32, 4096
PAPER_SETUPS = (("v5e-256", "tpu_v5e", {"data": 256, "model": 1}), ("8xH100", "h100", {"data": 8, "model": 1}))


def all_sizes_table(presets=None, *, vocab_size: int = PAPER_VOCAB, length: int = PAPER_LENGTH,
                    batch: int = PAPER_BATCH, setups=PAPER_SETUPS, fsdp: bool = True, mfu: float = DEFAULT_MFU,
                    dtype: str = "bfloat16") -> str:
  """A table over the bert_* presets: exact parameters, memory per device and step time on each setup."""
  presets = presets or [k for k in models_lib.PRESETS if k.startswith("bert_")]
  head = f"{'preset':<10} {'label':>7} {'params':>12} {'GFLOP/step':>11}"
  for name, _, _ in setups:
    head += f" | {name + ' GiB/dev':>15} {'compute ms':>10} {'comm ms':>8}"
  lines = [f"paper PCFG shape V={vocab_size}, L={length}, batch {batch}, fsdp={fsdp}, compute {dtype}, "
           f"{100 * mfu:.0f}% MFU", head, "-" * len(head)]
  for preset in presets:
    cfg = models_lib.default_model_config()
    cfg.preset, cfg.dtype = preset, dtype
    row = None
    for _, hw, mesh in setups:
      p = make_plan(cfg, vocab_size, length, batch, mesh, fsdp, hw, mfu, name=preset)
      if row is None:
        label = models_lib.paper_param_count(preset) / 1e6
        row = f"{preset:<10} {label:>6.1f}M {p.num_params:>12,} {p.flops['total'] / 1e9:>11.1f}"
      mark = "" if p.fits else "!"
      row += (f" | {p.total_bytes / GiB:>14.2f}{mark or ' '} {p.compute_seconds * 1e3:>10.2f} "
              f"{p.comm_seconds * 1e3:>8.2f}")
    lines.append(row)
  lines.append("label: HuggingFace-BERT count (30,522-word vocabulary) the paper's size names refer to; "
               "params: exact at V, L. '!' = does not fit in 90% of device memory. Step time = max(compute, "
               f"comm): compute at {100 * mfu:.0f}% MFU, data-axis collectives at {100 * COMM_EFFICIENCY:.0f}% of "
               "the link bandwidth.")
  return "\n".join(lines)
