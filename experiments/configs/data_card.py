"""Data card of a synthetic language: optimal loss, lengths, task ceilings (flatness_jax.data.card).

Command:  python -m experiments.main --config=configs/data_card.py[:released|:lm] --workdir=/tmp/dc
          (other grammars: --config.data.preset=paper | file --config.data.grammar_path=PATH; the HMM:
          --config.data.kind=hmm)
Runtime:  2 cores: seconds (cpu_easy) to a few minutes (the released grammar at 45,000 sentences).
Reaches:  L* with its SE, task majority and Bayes ceilings; the released grammar's L* is not the paper's 3.196.
The authors' released grammar is downloaded once from their repository, checksum-verified and cached per user
(flatness_jax.data.released); offline, name a local copy with --config.data.grammar_path=PATH or
FLATNESS_RELEASED_GRAMMAR=PATH (it is verified too). Writes WORKDIR/data_card.json and prints the same table.
"""
import ml_collections

from experiments.configs import base
from experiments.configs import common


def get_config(arg=None):
  """arg 'released': the authors' released grammar (flatness_jax.data.released); 'lm': the LM language."""
  a = common.parse_arg(arg, __file__, variant=common.Choice("", ("released", "lm")))
  c = ml_collections.ConfigDict()
  c.job = "data_card"          # What experiments.main runs (experiments/jobs.py -> flatness_jax.data.card).
  c.name = "data_card"         # Default run-directory name under runs/ when --workdir is not given.
  c.data = base.data_config()  # The language (kind, preset, grammar_path, seed), as in every training config.
  c.num_sentences = 20000      # Sentences for the Monte Carlo estimates (SE ∝ 1/sqrt(num_sentences)).
  c.sample_seed = 1            # Seed of those sentences.
  c.progress = True            # Progress bar on stderr.
  if a.variant == "released":
    c.name = "data_card_released"
    base.released_data(c.data)
  elif a.variant == "lm":
    c.name = "data_card_lm"
    c.data.kind, c.data.preset = "lm", "cpu"
    c.num_sentences = 2000     # Candidate enumeration costs K·C decoder passes per sentence.
  return c
