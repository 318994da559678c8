"""Token conventions and masked-LM batching: the bottom layer that the data and the models both import.

  * `vocab`: word ids 0..V−1, PAD = V, MASK = V+1 (`pad_id`, `mask_id`, `model_vocab_size`);
  * `batching`: padded sentences → model inputs, the paper's one-mask batch, BERT's 15% batch (jittable).
This package imports nothing else of flatness_jax, and this file imports nothing at all, so
`import flatness_jax.tokens.vocab` loads that one module.
"""
