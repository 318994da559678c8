"""A seconds-long training run on a tiny language and model, for smoke tests and debugging.

Command:  python -m experiments.main --config=configs/tiny.py --workdir=/tmp/tiny
Runtime:  ~10 s on 2 CPU cores (mostly compilation). It does not approach the optimum; use configs/quickstart.py.
"""
from experiments.configs import base


def get_config():
  c = base.train_config()
  c.name = "tiny"
  c.data.kind = "pcfg"
  c.data.preset = "tiny"     # A handful of non-terminals and words (flatness_jax.data.pcfg presets).
  c.model.preset = "cpu_tiny"  # The smallest CPU transformer.
  c.train.num_steps = 40
  c.train.batch_size = 32
  c.train.steps_per_call = 10
  c.optimizer.warmup_steps = 5
  c.eval.every = 20
  c.eval.num_pairs = 256
  c.eval.batch_size = 128
  c.checkpoint.every = 20
  return c
