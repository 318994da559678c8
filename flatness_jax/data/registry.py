"""`make_language(data_config)`: the Language a data config names (the one place that knows every kind).

Fields: kind ('pcfg' | 'hmm' | 'lm'), preset, grammar_path, seed, and the lm-only fields of
flatness_jax.data.lm_config (checkpoint, num_tokens, max_length, temperature, token_ids, frequency_sentences,
num_prompts, prompt_length, glue_dir), which must stay unset for the other kinds.
  * kind='pcfg': preset in flatness_jax.data.random_grammar.PRESETS (a random balanced grammar drawn with `seed`);
    'released', the authors' released grammar, checksum-verified (flatness_jax.data.released: `grammar_path` names
    a local copy; unset, the environment variable, the per-user cache or a download provide it); or 'file' to load
    any grammar in the authors' text format from `grammar_path` (flatness_jax.data.grammar_text).
  * kind='hmm': preset in flatness_jax.data.hmm.PRESETS (a random HMM drawn with `seed`).
  * kind='lm': preset in flatness_jax.data.lm_config.PRESETS (text of a causal LM restricted to K tokens).
Unknown or inconsistent values raise ValueError naming the field.
"""
import os

from flatness_jax.data import hmm, lm_config, pcfg, random_grammar, released
from flatness_jax.data.grammar_text import load_grammar
from flatness_jax.data.language import Language

KINDS = ("hmm", "lm", "pcfg")
FILE_PRESETS = ("released", "file")  # pcfg presets read from a grammar file


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
    known = sorted(random_grammar.PRESETS) + list(FILE_PRESETS)
    if preset == "released":
      verified = released.grammar_path(path)
      return pcfg.PCFGLanguage(load_grammar(verified), provenance={
          "path": verified, "sha256": released.SHA256, "source": f"{released.REPOSITORY} at {released.COMMIT}, "
                                                                  f"{released.FILE}"})
    if preset == "file":
      if not path:
        raise ValueError("data.preset='file' needs data.grammar_path (a grammar in the authors' text format)")
      grammar = load_grammar(path)
      with open(path, "rb") as f:
        sha = released.digest(f.read())
      return pcfg.PCFGLanguage(grammar, provenance={"path": os.path.abspath(path), "sha256": sha})
    if path:
      raise ValueError(f"data.grammar_path={path!r} is set but data.preset={preset!r}; set data.preset='file' "
                       "(any grammar in the authors' format) or 'released' (the authors' file) to load it")
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
