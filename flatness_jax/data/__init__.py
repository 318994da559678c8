"""Synthetic languages with exact conditionals (PCFG, HMM, LM) and their downstream tasks.

`make_language(data_config)` (flatness_jax.data.registry) builds a `Language` (flatness_jax.data.language) from a
config with fields kind ('pcfg' | 'hmm' | 'lm'), preset, grammar_path, seed (and the lm fields of lm_config).
Modules: grammar (CNF grammars) and grammar_text (the authors' text format), random_grammar
(balanced grammars, presets), rule_contraction and inside_outside (batched exact charts), pcfg, pcfg_tasks, hmm,
lm (a causal LM restricted to K tokens) and lm_config (its presets and fields), glue and text_tokenizer (GLUE
QNLI / SST-2 as the LM language's tasks), task_data (labelled sentences for probes), reference and brute_force
(independent checks), card (the data card's numbers). Token ids and masked-LM batches: flatness_jax.tokens; the
OPT decoder of the LM language: flatness_jax.decoder.
"""
from flatness_jax.data.grammar import Grammar, GrammarError, GrammarWarning
from flatness_jax.data.grammar_text import load_grammar
from flatness_jax.data.language import Language, Sample, Task, loss_statistics
from flatness_jax.data.registry import make_language
from flatness_jax.data.task_data import TaskData, task_dataset

__all__ = [
    "Grammar", "GrammarError", "GrammarWarning", "Language", "Sample", "Task", "TaskData", "load_grammar",
    "loss_statistics", "make_language", "task_dataset",
]
