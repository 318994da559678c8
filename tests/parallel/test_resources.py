"""flatness_jax.parallel.resources: exact parameter counts, FSDP bytes, FLOPs against XLA's cost analysis."""
import dataclasses
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
import pytest

from flatness_jax import models
from flatness_jax.parallel import resources as plan
from tests.conftest import REPO_ROOT, run_python


def _config(preset="", dtype="float32", **fields):
  c = models.default_model_config()
  c.preset, c.dtype = preset, dtype
  for k, v in fields.items():
    c[k] = v
  return c


def _loss(model):
  """The one-mask MLM loss of flatness_jax.train.objective, written out (mean cross-entropy at the masked slot)."""
  def loss(params, tokens, positions, targets):
    logits = model.apply({"params": params}, tokens, positions).astype(jnp.float32)
    return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()
  return loss


def _inputs(batch, length):
  return (jnp.zeros((batch, length), jnp.int32), jnp.zeros((batch,), jnp.int32), jnp.zeros((batch,), jnp.int32))


@pytest.mark.parametrize("preset, vocab, length", [("cpu_s", 50, 16), ("cpu_tiny", 200, 32)])
def test_param_count_is_exact(preset, vocab, length):
  """eval_shape count == an actual init's count == the closed form."""
  cfg = _config(preset)
  model = models.make_model(cfg, vocab, length)
  tokens, positions, _ = _inputs(1, length)
  params = nn.unbox(jax.jit(model.init)(jax.random.key(0), tokens, positions)["params"])
  n = plan.param_count(plan.boxed_abstract_params(cfg, vocab, length))
  p = models.PRESETS[preset]
  assert n == models.count_params(params)
  assert n == models.bert_param_count(vocab, length, p["d_model"], p["num_layers"], p["num_heads"], p["d_ff"])


def test_fsdp_divides_state_by_the_data_axis():
  """FSDP: the 'embed'-sharded leaves are split 4 ways, the rest (biases of 'mlp'/'heads', output bias) stay whole."""
  cfg = _config("cpu_s")  # d = 64, divisible by 4
  boxed = plan.boxed_abstract_params(cfg, 50, 16)
  total = plan.param_count(boxed)
  specs = jax.tree.leaves(nn.get_partition_spec(boxed), is_leaf=lambda s: isinstance(s, jax.sharding.PartitionSpec))
  sizes = [x.size for x in jax.tree.leaves(nn.unbox(boxed))]
  with_embed = sum(n for spec, n in zip(specs, sizes) if "embed" in tuple(spec))
  assert with_embed > 0.95 * total
  for data in (1, 2, 4, 8):
    mesh = {"data": data, "model": 1}
    assert plan.local_param_count(boxed, mesh, fsdp=False) == total
    assert plan.local_param_count(boxed, mesh, fsdp=True) == total - with_embed + with_embed // data
    p_dp = plan.make_plan(cfg, 50, 16, 64, mesh, fsdp=False, hardware="cpu")
    p_fsdp = plan.make_plan(cfg, 50, 16, 64, mesh, fsdp=True, hardware="cpu")
    assert p_dp.param_bytes == 4 * total and p_dp.optimizer_bytes == 8 * total
    ratio = p_dp.param_bytes / p_fsdp.param_bytes
    assert data * 0.9 <= ratio <= data, ratio
    assert p_fsdp.activation_bytes == p_dp.activation_bytes  # FSDP shards state, not activations


def test_fsdp_leaves_indivisible_width_replicated():
  """As in training, a width the data axis does not divide stays replicated (d=384 on 256 chips)."""
  cfg = _config("bert_17m")
  boxed = plan.boxed_abstract_params(cfg, 200, 32)
  assert plan.local_param_count(boxed, {"data": 256, "model": 1}, True) == plan.param_count(boxed)
  assert plan.local_param_count(boxed, {"data": 128, "model": 1}, True) < plan.param_count(boxed) / 100


def test_plan_bytes_match_sharded_arrays():
  """The plan's per-device parameter and AdamW bytes equal the shards training actually allocates (4 devices)."""
  code = """
  import jax
  from flatness_jax import models
  from flatness_jax.parallel import mesh as mesh_lib, resources as plan
  from flatness_jax.train import optim, state as state_lib
  from experiments.configs import base
  c = base.train_config(); c.model.preset = "cpu_s"
  for fsdp, mesh_shape in ((True, (4, 1)), (False, (4, 1)), (True, (2, 2))):
    model = models.make_model(c.model, 50, 16)
    tx = optim.make_optimizer(c.optimizer, 1000)
    mesh = mesh_lib.make_mesh(mesh_shape[1])
    _, shardings = state_lib.state_shardings(model, tx, mesh, 16, fsdp)
    state = state_lib.init_train_state(model, tx, jax.random.key(0), shardings, 16)
    dev = jax.devices()[0]
    def local_bytes(tree):
      return sum(s.data.nbytes for x in jax.tree.leaves(tree) for s in x.addressable_shards if s.device == dev
                 and x.ndim > 0)
    p = plan.make_plan(c.model, 50, 16, 64, {"data": mesh_shape[0], "model": mesh_shape[1]}, fsdp, "cpu")
    print("CHECK", fsdp, mesh_shape, local_bytes(state.params) == p.param_bytes,
          local_bytes(state.opt_state) == p.optimizer_bytes, local_bytes(state.params), p.param_bytes)
  """
  lines = [l for l in run_python(code, devices=4).stdout.splitlines() if l.startswith("CHECK")]
  assert len(lines) == 3
  for line in lines:
    assert line.split()[4:6] == ["True", "True"], line


def test_flops_formula_matches_xla_cost_analysis():
  """6·N·tokens + 12·n·L²·a + head at the masked slot vs compile().cost_analysis()['flops'] of loss + gradient.

  XLA also counts layer norms, GELU, softmax and the cross-entropy (not model FLOPs): we accept 0-10% more.
  Measured: 1.045 (d=128, n=2, L=32, B=16).
  """
  cfg = _config(d_model=128, num_layers=2, num_heads=4, d_ff=512)
  vocab, length, batch = 200, 32, 16
  model = models.make_model(cfg, vocab, length)
  inputs = _inputs(batch, length)
  params = nn.unbox(jax.eval_shape(lambda k: model.init(k, *inputs[:2])["params"], jax.random.key(0)))
  cost = jax.jit(jax.value_and_grad(_loss(model))).lower(params, *inputs).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  formula = plan.train_flops(plan.transformer_shape(cfg, vocab, length), batch)
  ratio = cost["flops"] / formula["total"]
  assert 1.0 <= ratio <= 1.10, (ratio, cost["flops"], formula)


def test_activation_formula_against_xla_memory():
  """The saved-for-backward formula is a lower bound of XLA:CPU's per-sequence temporaries, within the planned
  factor (temporaries at batch 64 minus batch 32, so weights and workspace cancel)."""
  cfg = _config(d_model=128, num_layers=2, num_heads=4, d_ff=512)
  vocab, length = 200, 32
  model = models.make_model(cfg, vocab, length)
  params = nn.unbox(jax.eval_shape(lambda k: model.init(k, *_inputs(1, length)[:2])["params"],
                                   jax.random.key(0)))
  temp = {}
  for b in (32, 64):
    compiled = jax.jit(jax.grad(_loss(model))).lower(params, *_inputs(b, length)).compile()
    temp[b] = compiled.memory_analysis().temp_size_in_bytes
  shape = plan.transformer_shape(cfg, vocab, length)
  formula = plan.activation_bytes(shape, 64, 4) - plan.activation_bytes(shape, 32, 4)
  ratio = (temp[64] - temp[32]) / formula
  assert 1.0 <= ratio <= 1.15 * plan.XLA_ACTIVATION_FACTOR, ratio


def test_flops_count_the_head_only_at_masked_positions():
  shape = plan.transformer_shape(_config("bert_235m"), 200, 32)
  one = plan.train_flops(shape, 4096)
  assert one["head"] == 6 * (1024 ** 2 + 1024 * 200) * 4096
  last = (2 * 1024 ** 2 + 2 * 1024 * 4096) * 31  # the last block's Q, O and FFN skip the 31 unmasked rows
  assert one["dense"] == 6 * (16 * (4 * 1024 ** 2 + 2 * 1024 * 4096) * 32 - last) * 4096
  assert one["attention"] == 12 * (16 * 32 ** 2 - 32 * 31) * 1024 * 4096
  full = plan.train_flops(dataclasses.replace(shape, last_at_masked=False), 4096)  # scan_layers: every row
  assert full["dense"] == 6 * 16 * (4 * 1024 ** 2 + 2 * 1024 * 4096) * 4096 * 32
  bert = plan.train_flops(plan.transformer_shape(_config("bert_235m"), 200, 32, masking="bert"), 4096)
  assert bert["head"] == 5 * one["head"]  # ⌈0.15 · 32⌉ = 5 slots


def test_parse_mesh():
  assert plan.parse_mesh("data:256,model:1") == {"data": 256, "model": 1}
  assert plan.parse_mesh("model:2") == {"data": 1, "model": 2}
  with pytest.raises(ValueError):
    plan.parse_mesh("data:0")
  with pytest.raises(ValueError):
    plan.parse_mesh("fsdp:4")


def test_step_time_and_fit():
  p = plan.make_plan(_config("bert_235m", "bfloat16"), 200, 32, 4096, {"data": 8, "model": 1}, True, "h100")
  assert p.num_params == 202_835_144
  assert p.fits
  assert p.compute_seconds == pytest.approx(p.flops["total"] / (8 * 989e12 * 0.4))
  assert p.step_seconds == max(p.compute_seconds, p.comm_seconds)
  big = plan.make_plan(_config("bert_730m"), 200, 32, 4096, {"data": 1, "model": 1}, False, "tpu_v5e")
  assert not big.fits and "DOES NOT FIT" in plan.format_plan(big)


def test_cli():
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-m", "experiments.plan", "--config=configs/tiny.py", "--vocab_size=50",
                        "--max_length=16", "--hardware=cpu", "--mesh=data:2,model:1"], cwd=REPO_ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr
  assert "parameters            16,178 (exact" in out.stdout and "with fsdp=True instead" in out.stdout
  table = subprocess.run([sys.executable, "-m", "experiments.plan", "--all_sizes"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
  assert table.returncode == 0, table.stderr
  for preset in (k for k in models.PRESETS if k.startswith("bert_")):
    assert preset in table.stdout
  assert "202,835,144" in table.stdout
