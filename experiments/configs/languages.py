"""The languages an experiment config can run on, as its argument: `configs/NAME.py:LANG` (not a config itself).

  pcfg      (default) the cpu_easy PCFG: 16 tokens, 50 words, L* ≈ 1.67 nats; tasks A/B/C = the labels of the
            16/8/4-token spans of the generating tree (the paper's 32/16/8 at half its length).
  hmm       the CPU HMM preset (12 hidden states, 50 words, 16 tokens, flatness_jax.data.hmm): tasks state6 and
            state10, the hidden state at positions 6 and 10 as in the paper (its sentences have 16 tokens too,
            so no rescaling is needed); the adversary and the downstream-loss trace use state10 (the paper's
            headline HMM task).
  released  the authors' released grammar (../shared/reference/rule_deep_mlm.txt: L* = 4.18 nats, 200 words,
            lengths 2..16; Bayes accuracies only 0.50 / 0.72 / 0.57 on tasks A / B / C, so effects have room).
`apply(c, lang)` sets the data config and every task field (probes, downstream-loss curvature, adversary) and
names the run `<name>_<lang>` for the non-default languages.
"""
from experiments.configs import base

LANGUAGES = ("pcfg", "hmm", "released")
TASKS = {"pcfg": ("A,B,C", "A"), "hmm": ("state6,state10", "state10"), "released": ("A,B,C", "A")}


def apply(c, lang: str = ""):
  """Puts config `c` on language `lang` ('' means pcfg); raises ValueError naming the known languages."""
  lang = lang or "pcfg"
  if lang not in LANGUAGES:
    raise ValueError(f"unknown language {lang!r}; known: {list(LANGUAGES)} (configs/NAME.py:LANG)")
  if lang == "hmm":
    c.data.kind, c.data.preset, c.data.grammar_path = "hmm", "cpu", ""
  elif lang == "released":
    base.released_data(c.data)
  else:
    c.data.kind, c.data.preset, c.data.grammar_path = "pcfg", "cpu_easy", ""
  probe_tasks, one_task = TASKS[lang]
  c.probes.tasks = probe_tasks
  c.curvature.tasks = one_task
  c.adversarial.task = one_task
  if lang != "pcfg":
    c.name = f"{c.name}_{lang}"
  return c
