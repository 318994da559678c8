"""A seconds-long training run on a tiny language and model, for smoke tests and debugging.

Command:  python -m experiments.main --config=configs/tiny.py --workdir=/tmp/tiny
Runtime:  2 cores: seconds (mostly compilation).
Reaches:  nowhere near the optimum (use configs/quickstart.py for that).
"""
from experiments.configs import base
from experiments.configs import common


def get_config():
  c = base.train_config()
  c.name = "tiny"
  c.data.kind = "pcfg"
  c.data.preset = "tiny"     # A handful of non-terminals and words (flatness_jax.data.pcfg presets).
  c.model.preset = "cpu_tiny"  # The smallest CPU transformer.
  return common.tiny(c)      # 40 steps of batch 32, evaluations and checkpoints every 20 (common.TINY).
