"""Synthetic languages with exact conditionals (PCFG, HMM, LM), their downstream tasks, and masked-LM batching.

`make_language(data_config)` (flatness_jax.data.registry) builds a `Language` (flatness_jax.data.language) from a
config with fields kind ('pcfg' | 'hmm' | 'lm'), preset, grammar_path, seed (and the lm fields of lm_config).
Modules: vocab (PAD/MASK ids), grammar (CNF grammars) and grammar_text (the authors' text format), random_grammar
(balanced grammars, presets), rule_contraction and inside_outside (batched exact charts), pcfg, pcfg_tasks, hmm,
lm (a causal LM restricted to K tokens) and lm_config (its presets and fields), glue and text_tokenizer (GLUE
QNLI / SST-2 as the LM language's tasks), batching (one-mask and BERT batches), task_data (labelled sentences for
probes), reference and brute_force (independent checks), card (the data-card job).
"""
from flatness_jax.data.batching import bert_mask_batch, model_inputs, one_mask_batch
from flatness_jax.data.grammar import Grammar, GrammarError, GrammarWarning
from flatness_jax.data.grammar_text import load_grammar
from flatness_jax.data.language import Language, Sample, Task, loss_statistics
from flatness_jax.data.registry import make_language
from flatness_jax.data.task_data import TaskData, task_dataset
from flatness_jax.data.vocab import mask_id, model_vocab_size, pad_id

__all__ = [
    "Grammar", "GrammarError", "GrammarWarning", "Language", "Sample", "Task", "TaskData", "bert_mask_batch",
    "load_grammar", "loss_statistics", "make_language", "mask_id", "model_inputs", "model_vocab_size",
    "one_mask_batch", "pad_id", "task_dataset",
]
