"""One BERT-style model pre-trained on a PCFG language, with its held-out gap to the exact optimal loss.

Command:  python -m experiments.main --config=configs/pcfg.py[:released|:paper] --workdir=runs/pcfg
Runtime:  2 cores: about ten minutes (cpu_m, 4,000 steps); :paper is planned, not run on CPU:
          python -m experiments.plan --config=configs/pcfg.py:paper.
Reaches:  a held-out gap of a few % of L* on the harder CPU grammar (cpu_hard), summary.json has it.
Variants: (default) cpu_hard: (4,6,6,6,6) non-terminals, 3 rules; :released the authors' grammar (fetched and
          verified once; offline: --config.data.grammar_path=PATH); :paper the paper-shaped PCFG (32 tokens, V=200)
          and the 235M model, batch 4096, FSDP (learning rate and step budget are our choices, not the paper's).
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
