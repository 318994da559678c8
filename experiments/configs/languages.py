"""The languages an experiment config can run on, as a word of its argument: `configs/NAME.py:LANG` (not a config
itself).

  pcfg      (default) the cpu_easy PCFG: 16 tokens, 50 words, L* in its data card; tasks A/B/C = the labels of the
            16/8/4-token spans of the generating tree (the paper's 32/16/8 at half its length).
  hmm       the CPU HMM preset (12 hidden states, 50 words, 16 tokens, flatness_jax.data.hmm): tasks state6 and
            state10, the hidden state at positions 6 and 10 as in the paper (its sentences have 16 tokens too,
            so no rescaling is needed); the adversary and the downstream-loss trace use state10 (the paper's
            headline HMM task).
  released  the authors' released grammar (their pcfg/rule_deep_mlm.txt, fetched once, checksum-verified and
            cached per user by flatness_jax.data.released; --config.data.grammar_path=PATH or
            FLATNESS_RELEASED_GRAMMAR=PATH names a local copy): 200 words, lengths 2..16, tasks A / B / C with Bayes
            ceilings far below 100%, so effects have room (the data card gives L* and the ceilings).
  lm        the paper's third language, the CPU default: text of a random OPT-architecture decoder restricted to its
            K = 48 most frequent tokens, each sentence generated after one of 4 latent prompts
            (flatness_jax.data.lm_config, preset 'cpu'); task 'prompt' (recover the prompt: exact Bayes ceiling and
            majority rate in the data card) for probes, the adversary and the downstream-loss trace, and GLUE
            QNLI / SST-2 where tensorflow-datasets has them prepared (skipped, with one line, elsewhere); mean-pooled
            probes (the authors' OPT probe); no lookup-table baseline (it needs the exact conditionals at every
            position of every probe sentence: K·C decoder passes each). The experiments' own budgets (the
            quickstart recipe) bring it to the saturation regime, as configs/lm.py states.
A language is one row of LANGUAGES: the fields it sets (data, probe tasks, downstream-loss curvature task,
adversary task, and the primary task: the task of the report's confirmatory rows). `apply(c, lang, tiny)` sets them
and names the run `<name>_<lang>` for the non-default languages; with `tiny` (a config's `tiny` word) it also applies
the language's row of TINY, a smaller form of the language whose exact conditionals cost seconds (the LM language
with K = 16 tokens and sentences of 4, as configs/lm.py:tiny).
"""
from experiments.configs import common
from flatness_jax.train import arms

LANGUAGES = {
    "pcfg": {"data.kind": "pcfg", "data.preset": "cpu_easy", "data.grammar_path": "",
             "probes.tasks": "A,B,C", "curvature.tasks": "A", "adversarial.task": "A",
             "report.primary_task": "A"},
    "hmm": {"data.kind": "hmm", "data.preset": "cpu", "data.grammar_path": "",
            "probes.tasks": "state6,state10", "curvature.tasks": "state10", "adversarial.task": "state10",
            "report.primary_task": "state10"},
    "released": {"data.kind": "pcfg", "data.preset": "released", "data.grammar_path": "",
                 "probes.tasks": "A,B,C", "curvature.tasks": "A", "adversarial.task": "A",
                 "report.primary_task": "A"},
    "lm": {"data.kind": "lm", "data.preset": "cpu", "data.grammar_path": "",
           "probes.tasks": "prompt,qnli,sst2", "probes.pooling": "mean", "probes.lookup": False,
           "curvature.tasks": "prompt", "adversarial.task": "prompt", "report.primary_task": "prompt"},
}
TINY = {"lm": {"data.num_tokens": 16, "data.max_length": 4, "data.frequency_sentences": 500}}
DEFAULT = "pcfg"
CHOICE = common.Choice(DEFAULT, tuple(LANGUAGES))  # The `lang` field of a config's parse_arg.


def apply(c, lang: str = DEFAULT, tiny: bool = False):
  """Puts config `c` on language `lang` (its tiny form with `tiny`); raises ValueError naming the known languages."""
  if lang not in LANGUAGES:
    raise ValueError(f"unknown language {lang!r}; known: {list(LANGUAGES)} (configs/NAME.py:LANG)")
  arms.apply_overrides(c, arms.partial_config(LANGUAGES[lang]), f"language {lang!r}")
  if tiny and lang in TINY:
    arms.apply_overrides(c, arms.partial_config(TINY[lang]), f"language {lang!r}, tiny")
  if lang != DEFAULT:
    c.name = f"{c.name}_{lang}"
  return c
