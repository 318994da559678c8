"""One model pre-trained on an HMM language (the paper trains LSTMs on HMM data), with its held-out gap to the
exact optimal loss (forward–backward conditionals).

Command:  python -m experiments.main --config=configs/hmm.py[:bert|:paper] --workdir=runs/hmm
Runtime:  2 cores: about ten minutes (lstm_cpu_s, 3,000 steps); :paper is planned, not run on CPU.
Reaches:  a held-out gap of a few % of L* (summary.json).
Variants: (default) the CPU HMM preset and a bidirectional LSTM (lstm_cpu_s, d=64×2); :bert the cpu_s transformer;
          :paper the paper-shaped HMM (100 states, V=200, 16 tokens) and the 135M LSTM, batch 4096 (learning rate
          and steps are our choices, not the paper's).
"""
from experiments.configs import base
from experiments.configs import common


def get_config(arg=None):
  """arg: 'bert' or 'paper' (see Variants above), 'tiny' (common.tiny's budgets)."""
  a = common.parse_arg(arg, __file__, variant=common.Choice("", ("bert", "paper")), tiny=False)
  c = base.train_config()
  c.name = "hmm"
  c.data.kind = "hmm"
  c.data.preset = "cpu"
  c.model.preset = "lstm_cpu_s"  # A bidirectional LSTM (the preset sets model.kind = 'lstm').
  c.train.num_steps = 3000
  c.eval.every = 250
  c.checkpoint.every = 500
  if a.variant == "bert":
    c.name = "hmm_bert"
    c.model.preset = "cpu_s"
  elif a.variant == "paper":
    c.name = "hmm_paper"
    base.paper_scale(c, "lstm_135m", learning_rate=1e-3, warmup_steps=5000)
  return common.tiny(c) if a.tiny else c
