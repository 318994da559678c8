"""The languages an experiment config can run on, as a word of its argument: `configs/NAME.py:LANG` (not a config
itself).

  pcfg      (default) the cpu_easy PCFG: 16 tokens, 50 words, L* ≈ 1.67 nats; tasks A/B/C = the labels of the
            16/8/4-token spans of the generating tree (the paper's 32/16/8 at half its length).
  hmm       the CPU HMM preset (12 hidden states, 50 words, 16 tokens, flatness_jax.data.hmm): tasks state6 and
            state10, the hidden state at positions 6 and 10 as in the paper (its sentences have 16 tokens too,
            so no rescaling is needed); the adversary and the downstream-loss trace use state10 (the paper's
            headline HMM task).
  released  the authors' released grammar (../shared/reference/rule_deep_mlm.txt: L* = 4.18 nats, 200 words,
            lengths 2..16; Bayes accuracies only 0.50 / 0.72 / 0.57 on tasks A / B / C, so effects have room).
A language is one row of LANGUAGES: the fields it sets (data, probe tasks, downstream-loss curvature task,
adversary task, and the primary task: the task of the report's confirmatory rows). `apply(c, lang)` sets them and
names the run `<name>_<lang>` for the non-default languages.
"""
from experiments.configs import base
from experiments.configs import common
from flatness_jax.train import arms

LANGUAGES = {
    "pcfg": {"data.kind": "pcfg", "data.preset": "cpu_easy", "data.grammar_path": "",
             "probes.tasks": "A,B,C", "curvature.tasks": "A", "adversarial.task": "A",
             "report.primary_task": "A"},
    "hmm": {"data.kind": "hmm", "data.preset": "cpu", "data.grammar_path": "",
            "probes.tasks": "state6,state10", "curvature.tasks": "state10", "adversarial.task": "state10",
            "report.primary_task": "state10"},
    "released": {"data.kind": "pcfg", "data.preset": "released", "data.grammar_path": base.RELEASED_GRAMMAR,
                 "probes.tasks": "A,B,C", "curvature.tasks": "A", "adversarial.task": "A",
                 "report.primary_task": "A"},
}
DEFAULT = "pcfg"
CHOICE = common.Choice(DEFAULT, tuple(LANGUAGES))  # The `lang` field of a config's parse_arg.


def apply(c, lang: str = DEFAULT):
  """Puts config `c` on language `lang`; raises ValueError naming the known languages."""
  if lang not in LANGUAGES:
    raise ValueError(f"unknown language {lang!r}; known: {list(LANGUAGES)} (configs/NAME.py:LANG)")
  arms.apply_overrides(c, arms.partial_config(LANGUAGES[lang]), f"language {lang!r}")
  if lang != DEFAULT:
    c.name = f"{c.name}_{lang}"
  return c
