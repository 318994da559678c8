"""The Fisher–Rao norm ⟨θ, F θ⟩ against dense Fishers (model and empirical)."""
import numpy as np

from flatness_curvature import fisher_rao_norm_sq
from tiny_models import dense_fisher, dense_score_outer, flat, make_mlp, mlp_logits


def test_fisher_rao_norm_is_the_fisher_quadratic_form_of_the_parameters(x64):
  params, _, (x, y) = make_mlp(n=32)
  theta = flat(params)
  model = fisher_rao_norm_sq(mlp_logits, params, x)
  np.testing.assert_allclose(float(model.value), theta @ dense_fisher(mlp_logits, params, x) @ theta, rtol=1e-10)
  emp = fisher_rao_norm_sq(mlp_logits, params, [x[:20], x[20:]], labels=[y[:20], y[20:]])
  np.testing.assert_allclose(float(emp.value), theta @ dense_score_outer(mlp_logits, params, x, np.asarray(y)[None])
                             @ theta, rtol=1e-10)
  assert int(model.dof) == 31 and int(emp.num_evaluations) == 32 and 0 < float(model.stderr) < float(model.value)
