"""The OPT causal decoder (Zhang et al. 2022) that defines the LM language, and its Hugging Face checkpoints.

  * `opt`: the decoder in flax.linen (numerically Hugging Face's OPTForCausalLM) with incremental evaluation;
  * `hf_checkpoint`: config.json + *.safetensors read into (and written from) `opt.Decoder` parameters.
Below the data layer (flatness_jax.data.lm samples and scores text with it) and beside the models, so the language
and the MLM models reach it without a cycle.
"""
