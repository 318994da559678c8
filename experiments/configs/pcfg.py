"""One BERT-style model pre-trained on a PCFG language, with its held-out gap to the exact optimal loss.

Command:  python -m experiments.main --config=configs/pcfg.py --workdir=runs/pcfg
Variants: configs/pcfg.py            the harder CPU grammar (cpu_hard: (4,6,6,6,6) non-terminals, 3 rules,
                                     L* ≈ 2.10 nats), cpu_m model (0.4M), 4,000 steps: about 12 min on 2 CPU cores;
                                     DESIGN.md's prototype stalled near a 7% gap on this grammar: expect a few %.
          configs/pcfg.py:released   the authors' released grammar (fetched and verified once; offline:
                                     --config.data.grammar_path=PATH); L* = 4.18 nats sentence-weighted, not the
                                     paper's 3.196 (see the data card); cpu_m, 4,000 steps, ~12 min on 2 cores.
                                     Measured 2026-12-02 on 2 quiet cores, 6,000 steps: cpu_s (--config.model.preset
                                     =cpu_s) 2.43 ± 0.17% of L* in 4.5 min (3% at step ≈ 3,300); cpu_m 3.38 ± 0.20%
                                     in 8.4 min (3.53% at 5,000): the smaller model gets closer at equal steps.
          configs/pcfg.py:paper      paper scale: the paper-shaped PCFG preset (32 tokens, V=200, L* ≈ 3.14) and
                                     the 235M model (hidden 1024, 16 layers, 16 heads, FFN 4096), batch 4096, FSDP.
                                     Plan it first: python -m experiments.plan --config=configs/pcfg.py:paper
                                     (bert_235m: 159 TFLOP/step; on a TPU v5e-256 at 40% MFU ≈ 8 ms of compute and
                                     ≈ 16 ms of FSDP traffic per step).
                                     The learning rate and step budget here are our choices, not the paper's.
"""
from experiments.configs import base
from experiments.configs import common


def get_config(arg=None):
  """arg: 'released' or 'paper' (see Variants above), 'tiny' (common.tiny's budgets)."""
  a = common.parse_arg(arg, __file__, variant=common.Choice("", ("released", "paper")), tiny=False)
  c = base.train_config()
  c.name = "pcfg"
  c.data.kind = "pcfg"
  c.data.preset = "cpu_hard"
  c.model.preset = "cpu_m"
  c.train.num_steps = 4000
  c.checkpoint.every = 500
  c.eval.every = 250
  if a.variant == "released":
    c.name = "pcfg_released"
    base.released_data(c.data)  # A local copy: --config.data.grammar_path=PATH (flatness_jax.data.released).
  elif a.variant == "paper":
    c.name = "pcfg_paper"
    base.paper_scale(c, "bert_235m", learning_rate=1e-4, warmup_steps=10_000)
    c.model.dtype = "bfloat16"
    c.optimizer.weight_decay = 0.01
  return common.tiny(c) if a.tiny else c
