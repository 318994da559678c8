"""Training algorithms move along the minimiser manifold in the expected direction, and adversarial training
hurts the downstream probe while keeping the pre-training loss."""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from flatness_jax.train import algorithms
from tests.conftest import REPO_ROOT


def _loss(p):
  # Scale symmetry: minima on the hyperbola w1·w2 = 1, where Tr(H) = 2(w1² + w2²) is smallest at w1 = w2 = 1.
  return (p["w1"] * p["w2"] - 1.0) ** 2


def _trace_h(p):
  return float(jnp.trace(jax.hessian(lambda v: _loss({"w1": v[0], "w2": v[1]}))(jnp.stack([p["w1"], p["w2"]]))))


def _train(algorithm, steps=3000, **kw):
  cfg = ml_collections.ConfigDict(dict(algorithm=algorithm, sam_rho=0.05, trace_penalty=0.01, trace_probes=4,
                                       adversarial_lambda=0.0, **kw))
  tx = optax.sgd(0.02)
  p = {"w1": jnp.asarray(3.0), "w2": jnp.asarray(0.2)}
  st = tx.init(p)

  @jax.jit
  def step(p, st, key):
    loss, g, _ = algorithms.value_and_grad(cfg, _loss, p, key)
    u, st = tx.update(g, st, p)
    return optax.apply_updates(p, u), st, loss

  key = jax.random.key(0)
  for i in range(steps):
    p, st, loss = step(p, st, jax.random.fold_in(key, i))
  return p, float(loss)


def test_sam_and_trace_penalty_are_flatter_than_plain_descent():
  plain, l0 = _train("standard")
  sam, l1 = _train("sam")
  pen, l2 = _train("trace_penalty")
  t0, t1, t2 = _trace_h(plain), _trace_h(sam), _trace_h(pen)
  # All reach (near) zero loss, i.e. the same loss ...
  assert max(l0, l1, l2) < 1e-3
  # ... but SAM and the penalty end at flatter minima (margin: 10% of plain's trace).
  assert t1 < 0.9 * t0 and t2 < 0.9 * t0, (t0, t1, t2)


def test_trace_penalty_term_and_its_gradient_are_hutchinson_with_the_toolkits_probes(x64):
  from flatness_curvature import random_vector as probe  # pylint: disable=g-import-not-at-top
  p = {"w1": jnp.asarray(1.7), "w2": jnp.asarray([0.3, -0.8])}
  loss = lambda q: (q["w1"] * jnp.sum(q["w2"] ** 2) - 1.0) ** 2 + jnp.prod(q["w2"]) * q["w1"] ** 3
  key = jax.random.key(9)

  def explicit(q):  # (1/k) Σ vᵢᵀ H vᵢ with the dense Hessian and the same probes
    flat = lambda v: jnp.concatenate([v["w1"][None], v["w2"]])
    unflat = lambda x: {"w1": x[0], "w2": x[1:]}
    hess = jax.hessian(lambda x: loss(unflat(x)))(flat(q))
    vs = [flat(probe(key, i, q)) for i in range(3)]
    return sum(v @ hess @ v for v in vs) / 3

  term = lambda q: algorithms.hutchinson_trace_term(loss, q, key, 3)
  np.testing.assert_allclose(float(term(p)), float(explicit(p)), rtol=1e-12)
  for a, b in zip(jax.tree.leaves(jax.grad(term)(p)), jax.tree.leaves(jax.grad(explicit)(p))):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10)


def test_unknown_algorithm_is_named():
  cfg = ml_collections.ConfigDict(dict(algorithm="lion"))
  with pytest.raises(ValueError, match="train.algorithm"):
    algorithms.value_and_grad(cfg, _loss, {"w1": jnp.ones(()), "w2": jnp.ones(())}, jax.random.key(0))


def _run(workdir, *overrides):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  cmd = [sys.executable, "-m", "experiments.main", "--config=configs/tiny.py", f"--workdir={workdir}",
         "--config.train.num_steps=60", "--config.adversarial.batch_size=32",
         "--config.adversarial.head_examples=256", "--config.adversarial.refit_every=20", *overrides]
  proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.load(open(os.path.join(workdir, "summary.json")))


def _probe_loss(workdir, step=None):
  """Held-out loss of a linear probe (task A) fitted on the frozen encoder of `workdir` at `step` (default: last)."""
  from flatness_jax.data import task_data
  from flatness_jax.models import readout
  from flatness_jax.rundir import rundir
  run = rundir.RunDir(workdir)
  params = run.params(run.steps()[-1] if step is None else step)
  d = task_data.task_dataset(run.language, "A", 512, 5)
  f = readout.encoder_features(run.model, params, d.tokens, d.lengths, run.language.vocab_size)
  head = readout.fit_linear_head(f[:384], d.labels[:384], d.num_classes, 300, learning_rate=1e-2)
  logits = f[384:] @ np.asarray(head["w"]) + np.asarray(head["b"])
  return float(optax.softmax_cross_entropy_with_integer_labels(jnp.asarray(logits), d.labels[384:]).mean())


@pytest.mark.slow  # two training runs and probes: minutes on 2 cores
def test_adversarial_training_hurts_the_probe_at_equal_loss(tmp_path):
  from flatness_jax.rundir import reader, rundir
  _run(str(tmp_path / "std"), "--config.checkpoint.every=4", "--config.checkpoint.keep_period=4")
  adv = _run(str(tmp_path / "adv"), "--config.train.algorithm=adversarial", "--config.train.adversarial_lambda=1.0")
  # Iso-loss: the standard run's checkpoint whose held-out loss is closest to the adversarial run's final loss.
  std_run = rundir.RunDir(str(tmp_path / "std"))
  evals = reader.read_evaluations(std_run.workdir)
  losses = {s: evals[s].eval_loss for s in std_run.steps() if s in evals}
  match = min(losses, key=lambda s: abs(losses[s] - adv["final_loss"]))
  assert abs(losses[match] - adv["final_loss"]) < 0.1
  # At (about) the same pre-training loss the adversarially trained encoder is worse for the downstream probe.
  assert _probe_loss(str(tmp_path / "adv")) > _probe_loss(str(tmp_path / "std"), match) + 0.01
