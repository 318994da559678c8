"""One model pre-trained on an HMM language (the paper trains LSTMs on HMM data), with its held-out gap to the
exact optimal loss (forward–backward conditionals).

Command:  python -m experiments.main --config=configs/hmm.py --workdir=runs/hmm
Variants: configs/hmm.py         the CPU HMM preset and a bidirectional LSTM (lstm_cpu_s, d=64×2), 3,000 steps,
                                 about 10 minutes on 2 CPU cores; see the run's summary.json for the gap reached.
          configs/hmm.py:bert    the same data with the cpu_s transformer.
          configs/hmm.py:paper   paper scale: the paper-shaped HMM (100 states, V=200, 16 tokens, L* ≈ 3.78; the
                                 paper reports 3.758 for its own HMM) and the 135M LSTM, batch 4096. Learning rate
                                 and steps are our choices, not the paper's.
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
