"""Schedules and optimizer validation."""
import numpy as np
import pytest

from flatness_jax.train import optim


def _cfg(**kw):
  c = optim.default_optimizer_config()
  c.update(kw)
  return c


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_schedule_shape(schedule):
  c = _cfg(schedule=schedule, learning_rate=1.0, warmup_steps=10, end_fraction=0.1)
  s = optim.make_schedule(c, 100)
  assert float(s(0)) == 0.0
  np.testing.assert_allclose(float(s(5)), 0.5, rtol=1e-6)
  np.testing.assert_allclose(float(s(10)), 1.0, rtol=1e-6)
  end = 1.0 if schedule == "constant" else 0.1
  np.testing.assert_allclose(float(s(100)), end, rtol=1e-5)


def test_warmup_fraction_overrides_steps():
  c = _cfg(warmup_fraction=0.12, warmup_steps=3, schedule="constant", learning_rate=2.0)
  assert optim.warmup_steps(c, 1000) == 120
  np.testing.assert_allclose(float(optim.make_schedule(c, 1000)(60)), 1.0, rtol=1e-6)


@pytest.mark.parametrize("field,value", [("name", "adam_typo"), ("schedule", "step"), ("learning_rate", 0.0),
                                         ("warmup_steps", 5000), ("end_fraction", 2.0), ("clip_norm", -1.0),
                                         ("learning_rate", float("inf")), ("learning_rate", float("nan")),
                                         ("b1", 1.0), ("b2", -0.1), ("eps", -1.0), ("eps", 0.0), ("momentum", 1.5),
                                         ("weight_decay", float("nan")), ("clip_norm", float("inf")),
                                         ("schedule_steps", -1)])
def test_bad_optimizer_fields_are_named(field, value):
  c = _cfg(**{field: value})
  with pytest.raises(ValueError, match=f"optimizer.{field}"):
    optim.make_optimizer(c, 1000)


def test_sgd_and_adamw_build_and_step():
  import jax.numpy as jnp
  for name in ("sgd", "adamw"):
    tx = optim.make_optimizer(_cfg(name=name, warmup_steps=0, schedule="constant", learning_rate=0.1), 10)
    p = {"w": jnp.ones(3)}
    st = tx.init(p)
    upd, _ = tx.update({"w": jnp.ones(3)}, st, p)
    assert float(upd["w"][0]) < 0


def test_the_schedule_spans_schedule_steps_and_stays_at_its_end_after():
  c = _cfg(schedule="cosine", learning_rate=1.0, warmup_steps=0, end_fraction=0.1, schedule_steps=100)
  s = optim.make_schedule(c, 300)
  full = optim.make_schedule(_cfg(schedule="cosine", learning_rate=1.0, warmup_steps=0, end_fraction=0.1), 100)
  np.testing.assert_allclose([float(s(t)) for t in range(0, 101, 10)], [float(full(t)) for t in range(0, 101, 10)])
  np.testing.assert_allclose([float(s(t)) for t in (100, 150, 300)], 0.1, rtol=1e-6)
