"""The 'data_card' job (configs/data_card.py): the numbers of a language (flatness_jax.data.card) recorded in
<workdir>/data_card.json (atomically, under the directory's writer lock) and printed as a table, with a progress bar
on stderr."""
import os

from flatness_jax.data import card as card_lib
from flatness_jax.data.registry import make_language
from flatness_jax.jobs import progress as progress_lib
from flatness_jax.rundir import jsonio, lock

FILE = "data_card.json"


def compute_card(language, num_sentences: int, sample_seed: int, show_progress: bool = True) -> dict:
  """card_lib.compute_card with a progress bar over the sentences (when `show_progress`)."""
  bar = (progress_lib.ProgressBar(num_sentences, label="exact conditionals and posteriors", unit="sentences")
         if show_progress else None)
  try:
    return card_lib.compute_card(language, num_sentences, sample_seed, on_progress=bar.update if bar else None)
  finally:
    if bar:
      bar.close()


def run_data_card(config, workdir: str) -> dict:
  """Computes the card of `config.data`, writes workdir/data_card.json, prints the table; returns the card."""
  language = make_language(config.data)
  with lock.writer_lock(workdir):
    card = compute_card(language, int(config.num_sentences), int(config.sample_seed),
                        bool(config.get("progress", True)))
    card["config"] = config.to_dict()
    card["data_config"] = config.data.to_dict()
    path = os.path.join(workdir, FILE)
    if jsonio.is_writer():
      jsonio.write_json_atomic(path, card)
  print(card_lib.format_card(card))
  print(f"wrote {path}")
  return card
