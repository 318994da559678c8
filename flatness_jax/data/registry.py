"""`make_language(data_config)`: the Language a data config names (the one place that knows every kind).

Fields: kind ('pcfg' | 'hmm' | 'lm'), preset, grammar_path, seed, and the lm-only fields of
flatness_jax.data.lm_config (checkpoint, num_tokens, max_length, temperature, token_ids, frequency_sentences,
glue_dir), which must stay unset for the other kinds.
  * kind='pcfg': preset in flatness_jax.data.random_grammar.PRESETS (a random balanced grammar drawn with `seed`),
    or 'released' to load `grammar_path` (the authors' text format, flatness_jax.data.grammar_text).
  * kind='hmm': preset in flatness_jax.data.hmm.PRESETS (a random HMM drawn with `seed`).
  * kind='lm': preset in flatness_jax.data.lm_config.PRESETS (text of a causal LM restricted to K tokens).
Unknown or inconsistent values raise ValueError naming the field.
"""
from flatness_jax.data import hmm, lm_config, pcfg, random_grammar
from flatness_jax.data.grammar_text import load_grammar
from flatness_jax.data.language import Language

KINDS = ("hmm", "lm", "pcfg")


def make_language(data_config) -> Language:
  """The language of a data config (module docstring)."""
  kind = data_config.get("kind", "pcfg")
  preset = data_config.get("preset", "")
  path = data_config.get("grammar_path", "") or ""
  seed = int(data_config.get("seed", 0))
  if kind == "lm":
    return lm_config.make_lm_language(data_config)
  if kind in KINDS:
    lm_config.check_unset(data_config, kind)
  if kind == "pcfg":
    known = sorted(random_grammar.PRESETS) + ["released"]
    if preset == "released":
      if not path:
        raise ValueError("data.preset='released' needs data.grammar_path (a grammar in the authors' text format)")
      return pcfg.PCFGLanguage(load_grammar(path))
    if path:
      raise ValueError(f"data.grammar_path={path!r} is set but data.preset={preset!r}; set data.preset='released' "
                       "to load it")
    if preset not in random_grammar.PRESETS:
      raise ValueError(f"unknown data.preset={preset!r} for data.kind='pcfg'; known presets: {known}")
    return pcfg.PCFGLanguage(random_grammar.random_grammar(preset, seed))
  if kind == "hmm":
    if path:
      raise ValueError(f"data.grammar_path={path!r} is only meaningful for data.kind='pcfg'")
    if preset not in hmm.PRESETS:
      raise ValueError(f"unknown data.preset={preset!r} for data.kind='hmm'; known presets: {sorted(hmm.PRESETS)}")
    return hmm.HMMLanguage(hmm.random_hmm(preset, seed))
  raise ValueError(f"unknown data.kind={kind!r}; known kinds: {list(KINDS)}")
