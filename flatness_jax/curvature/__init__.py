"""Compatibility name for the curvature library, now its own distribution `flatness-curvature`.

`from flatness_jax import curvature` keeps working for existing callers; new code imports `flatness_curvature`
directly (see curvature/README.md at the repository root).
"""
# pylint: disable=wildcard-import,unused-wildcard-import
from flatness_curvature import *
from flatness_curvature import __all__, synthetic
