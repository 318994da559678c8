"""The CPU quickstart: two transformer sizes trained to within 2% of the exact optimal loss of a synthetic PCFG.

Command:  python -m experiments.main --config=configs/quickstart.py --workdir=runs/quickstart
Runtime:  about 10 minutes on 2 CPU cores (cpu_s ≈ 3 min, cpu_m ≈ 7 min).
Reaches:  held-out gap ≤ 2% of the optimal loss (≈ 1.67 nats on cpu_easy) for both sizes; the table of final
          gaps ± SE is printed and written to runs/quickstart/sizes.md. Each size is a run directory.
Language: the 'cpu_easy' balanced PCFG (depth 4 → 16 tokens, 4 non-terminals per level, 2 rules each, 50 words);
          recipe of ../shared/DESIGN.md (pre-LN encoder, AdamW β=(0.9, 0.98), lr 3e-3, 200-step warmup, cosine to 2%).
"""
from experiments.configs import base


def get_config():
  c = base.train_config()
  c.job = "quickstart"
  c.name = "quickstart"
  c.sizes = "cpu_s,cpu_m"   # Model presets trained in turn (comma-separated), each to runs/quickstart/<size>.
  c.data.kind = "pcfg"
  c.data.preset = "cpu_easy"
  c.model.preset = "cpu_s"  # Replaced per size.
  c.train.num_steps = 2600
  c.train.batch_size = 256
  c.optimizer.learning_rate = 3e-3
  c.optimizer.warmup_steps = 200
  c.optimizer.schedule = "cosine"
  c.optimizer.end_fraction = 0.02
  return c
