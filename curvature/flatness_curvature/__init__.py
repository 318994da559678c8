"""Curvature toolkit: Hessian-vector products, trace estimators with error bars, Lanczos and SLQ on pytrees.

Pytree-generic and independent of the rest of flatness_jax: functions of a params pytree and a batch in, numbers
with error bars out. See README.md in this directory for an example and DESIGN.md for where it fits.
"""
from flatness_curvature._estimate import TraceEstimate
from flatness_curvature._fisher_trace import fisher_trace, per_example_sq_grad_norms
from flatness_curvature._hessian import (batch_weights, hessian_matvec, hessian_operator, hvp, linearized_hvp,
                                       split_batch)
from flatness_curvature._lanczos import LanczosResult, lanczos_eigenvalues
from flatness_curvature._masks import leaf_paths, mask_by_regex, mask_size, masked_matvec
from flatness_curvature._slq import SpectralDensity, slq_density
from flatness_curvature._trace import METHODS, hessian_trace, trace_estimate

__all__ = [
    "METHODS", "LanczosResult", "SpectralDensity", "TraceEstimate", "batch_weights", "fisher_trace", "hessian_matvec",
    "hessian_operator", "hessian_trace", "hvp", "lanczos_eigenvalues", "leaf_paths", "linearized_hvp",
    "mask_by_regex", "mask_size", "masked_matvec", "per_example_sq_grad_norms", "slq_density", "split_batch",
    "trace_estimate",
]
