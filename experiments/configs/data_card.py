"""Data card of a synthetic language: optimal loss, lengths, task ceilings (flatness_jax.data.card).

Commands (from the repository root) and what they gave on 2 CPU cores shared with other jobs (load ≈ 10):
  python -m experiments.main --config=configs/data_card.py --workdir=/tmp/dc
      cpu_easy seed 0, 20,000 sentences, ~10 s: L* = 1.672 ± 0.002 nats; task A (root, 4 classes) Bayes 0.930,
      majority 0.252 (the DESIGN.md starting point: 1.67 nats, 0.925, 0.255).
  python -m experiments.main --config=configs/data_card.py:released --workdir=/tmp/dc_released \
      --config.num_sentences=45000
      ~2 min: L* = 4.183 ± 0.005 (token-weighted 4.457 ± 0.003), not the paper's 3.196; task A (9 classes)
      Bayes 0.500, majority 0.270. The authors' file is downloaded once from their repository, checksum-verified and
      cached per user (flatness_jax.data.released); offline, name a local copy with
      --config.data.grammar_path=PATH or FLATNESS_RELEASED_GRAMMAR=PATH (it is verified too). Another grammar in
      the authors' format: --config.data.preset=file --config.data.grammar_path=PATH.
  python -m experiments.main --config=configs/data_card.py:lm --workdir=/tmp/dc_lm
      the LM language (configs/languages.py's lm row): L* by candidate enumeration and the prompt task's majority
      and Bayes ceilings.
  python -m experiments.main --config=configs/data_card.py --workdir=/tmp/dc_pcfg --config.data.preset=paper \
      --config.num_sentences=10000
      ~30 s: L* = 3.144 ± 0.002; tasks A/B/C Bayes 0.84/0.95/0.98.
  python -m experiments.main --config=configs/data_card.py --workdir=/tmp/dc_hmm --config.data.kind=hmm \
      --config.data.preset=paper --config.num_sentences=12000
      ~15 s: L* = 3.777 ± 0.005; state6/state10 Bayes 0.947/0.941 (100 classes).
Writes WORKDIR/data_card.json (atomically) and prints the same table; a progress bar goes to stderr.
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
