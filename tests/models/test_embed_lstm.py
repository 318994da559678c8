"""Function-preserving embedding of a small BiLSTMMLM into a wider one (flatness_jax.models.embed_lstm), in
float64, against the small model's logits and features."""
import numpy as np
import pytest

from flatness_jax import models
from tests.models.test_embed import _apply, _config, _model, check_preserves_logits

SMALL = dict(kind="lstm", d_model=4, num_layers=2)


@pytest.mark.parametrize("k,tie", [(2, True), (3, False), (4, True)], ids=["x2", "x3_untied", "x4"])
def test_lstm_embedding_preserves_logits_and_repeats_features(x64, k, tie):
  small, large = _config(tie_embeddings=tie, **SMALL), _config(tie_embeddings=tie, **dict(SMALL, d_model=4 * k))
  params, big, big_model, tok = check_preserves_logits(small, large)
  # The hidden states are the small model's, each direction's units repeated k times.
  feats = np.asarray(_apply(_model(small), params, tok, method="features"))
  fwd, bwd = feats[..., :4], feats[..., 4:]
  np.testing.assert_allclose(_apply(big_model, big, tok, method="features"),
                             np.concatenate([fwd] * k + [bwd] * k, axis=-1), atol=1e-10)


@pytest.mark.parametrize("large,match", [
    (dict(SMALL, d_model=6), "integer factor"),
    (dict(SMALL, num_layers=3), "no LSTM layer is the identity"),
    (dict(SMALL, d_model=8, kind="bert"), "bert into bert or lstm into lstm"),
])
def test_unsupported_lstm_growth_raises(large, match):
  with pytest.raises(ValueError, match=match):
    models.check_embeddable(_config(**SMALL), _config(**large))
