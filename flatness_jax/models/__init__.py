"""MLM models (flax.linen): BERT-style encoder, bidirectional LSTM, presets, function-preserving embedding, and
the readout (pooled features, linear heads) shared by training and evaluation.

Token conventions (flatness_jax.tokens.vocab): words 0..V-1, PAD = V, MASK = V+1; embedding tables have V+2 rows,
heads predict V words. The OPT decoder that generates the LM language is flatness_jax.decoder.
"""
from flatness_jax.models.bert import BertMLM
from flatness_jax.models.bert import stack_layers
from flatness_jax.models.bert import unstack_layers
from flatness_jax.models.common import count_params
from flatness_jax.models.embed import check_embeddable
from flatness_jax.models.embed import embed_params
from flatness_jax.models.lstm import BiLSTMMLM
from flatness_jax.models.presets import PRESETS
from flatness_jax.models.presets import bert_param_count
from flatness_jax.models.presets import default_model_config
from flatness_jax.models.presets import lstm_param_count
from flatness_jax.models.presets import make_model
from flatness_jax.models.presets import paper_param_count
from flatness_jax.models.presets import resolve_model_config
from flatness_jax.models.presets import validate_model_config
