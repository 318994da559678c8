"""flatness_curvature: the curvature of any JAX loss over any pytree of parameters, with error bars.

Operators (Hessian, GGN, Fisher: exact, Monte-Carlo, empirical), estimators of their trace, diagonal, per-block
traces and Frobenius norm, Lanczos and SLQ, CG solves, and the sharpness measures of the flatness literature. Depends
on jax and numpy only. See README.md for the input contract and an example for each model style.
"""
from flatness_curvature import synthetic
from flatness_curvature._adapters import equinox_loss, linen_loss, nnx_loss
from flatness_curvature._batches import batch_weights, split_batch
from flatness_curvature._block_traces import block_traces
from flatness_curvature._cg import CGResult, cg_solve, inverse_hvp
from flatness_curvature._convergence import ConvergenceWarning
from flatness_curvature._diagonal import DIAGONAL_METHODS, DiagonalEstimate, diagonal_estimate
from flatness_curvature._estimate import Estimate, TraceEstimate
from flatness_curvature._fisher import empirical_fisher_matvec, fisher_matvec
from flatness_curvature._fisher_rao import fisher_rao_norm_sq
from flatness_curvature._fisher_trace import fisher_trace, per_example_sq_grad_norms
from flatness_curvature._frobenius import frobenius_norm_sq
from flatness_curvature._ggn import ggn_matvec
from flatness_curvature._hessian import hessian_matvec, hessian_operator, hvp, linearized_hvp
from flatness_curvature._lanczos import LanczosResult, lanczos_eigenvalues
from flatness_curvature._masks import leaf_paths, mask_by_regex, mask_size, masked_matvec
from flatness_curvature._operator import Operator, as_operator
from flatness_curvature._random_vectors import random_vector, random_vectors
from flatness_curvature._sharpness_average import average_sharpness
from flatness_curvature._sharpness_worst import WorstCaseSharpness, worst_case_sharpness
from flatness_curvature._slq import SpectralDensity, slq_density
from flatness_curvature._trace import METHODS, hessian_trace, trace_estimate

__version__ = "0.1.0"

__all__ = [
    "CGResult", "ConvergenceWarning", "DIAGONAL_METHODS", "DiagonalEstimate", "Estimate", "LanczosResult", "METHODS",
    "Operator", "SpectralDensity", "TraceEstimate", "WorstCaseSharpness", "as_operator", "average_sharpness",
    "batch_weights", "block_traces", "cg_solve", "diagonal_estimate", "empirical_fisher_matvec", "equinox_loss",
    "fisher_matvec", "fisher_rao_norm_sq", "fisher_trace", "frobenius_norm_sq", "ggn_matvec", "hessian_matvec",
    "hessian_operator", "hessian_trace", "hvp", "inverse_hvp", "lanczos_eigenvalues", "leaf_paths", "linearized_hvp",
    "linen_loss", "mask_by_regex", "mask_size", "masked_matvec", "nnx_loss", "per_example_sq_grad_norms",
    "random_vector", "random_vectors", "slq_density", "split_batch", "synthetic", "trace_estimate",
    "worst_case_sharpness",
]
