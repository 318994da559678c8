"""The distribution stands alone: importing it loads no model library, and its public names are all there."""
import subprocess
import sys

import flatness_curvature


def test_import_loads_jax_and_numpy_only():
  code = ("import sys, flatness_curvature; "
          "print(sorted({m.split('.')[0] for m in sys.modules} & {'flax', 'optax', 'orbax', 'equinox', 'scipy', "
          "'matplotlib', 'flatness_jax', 'torch', 'tensorflow'}))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
  assert out == "[]", out


def test_public_names():
  missing = [n for n in flatness_curvature.__all__ if not hasattr(flatness_curvature, n)]
  assert not missing
  kept = ["hvp", "hessian_matvec", "hessian_operator", "linearized_hvp", "batch_weights", "hessian_trace",
          "trace_estimate", "fisher_trace", "per_example_sq_grad_norms", "lanczos_eigenvalues", "LanczosResult",
          "slq_density", "SpectralDensity", "mask_by_regex", "masked_matvec", "mask_size", "leaf_paths",
          "TraceEstimate", "METHODS", "synthetic", "split_batch"]
  assert set(kept) <= set(flatness_curvature.__all__)
  assert flatness_curvature.TraceEstimate._fields == ("value", "stderr", "num_matvecs", "dof", "converged")
