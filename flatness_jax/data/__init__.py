"""Synthetic languages with exact conditionals (PCFG, HMM), their downstream tasks, and masked-LM batching.

`make_language(data_config)` builds a `Language` (see flatness_jax.data.language) from a config with fields
kind ('pcfg' | 'hmm'), preset, grammar_path, seed. Modules: grammar (CNF grammars, the authors' text format),
random_grammar (balanced grammars, presets), inside_outside (batched exact charts), pcfg, pcfg_tasks, hmm,
batching (one-mask and BERT batches), reference and brute_force (independent checks), card (the data-card job).
"""
from flatness_jax.data.batching import bert_mask_batch, mask_id, model_vocab_size, one_mask_batch, pad_id
from flatness_jax.data.grammar import Grammar, GrammarError, GrammarWarning, load_grammar
from flatness_jax.data.language import Language, Sample, Task, loss_statistics, make_language

__all__ = [
    "Grammar", "GrammarError", "GrammarWarning", "Language", "Sample", "Task", "bert_mask_batch", "load_grammar",
    "loss_statistics", "make_language", "mask_id", "model_vocab_size", "one_mask_batch", "pad_id",
]
