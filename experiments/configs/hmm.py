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


def get_config(variant=None):
  c = base.train_config()
  c.name = "hmm"
  c.data.kind = "hmm"
  c.data.preset = "cpu"
  c.model.preset = "lstm_cpu_s"
  c.model.kind = "lstm"
  c.train.num_steps = 3000
  c.eval.every = 250
  c.checkpoint.every = 500
  if variant == "bert":
    c.name = "hmm_bert"
    c.model.kind, c.model.preset = "bert", "cpu_s"
  elif variant == "paper":
    c.name = "hmm_paper"
    base.paper_scale(c, "lstm_135m", learning_rate=1e-3, warmup_steps=5000)
  elif variant:
    raise ValueError(f"unknown hmm variant {variant!r}; known: 'bert', 'paper'")
  return c
