"""Warnings for estimates that stopped before reaching their target.

Every adaptive estimator (trace with `rtol`), Lanczos, CG and worst-case sharpness return a `converged` flag; when it
is False they also warn, with a `ConvergenceWarning` naming the target and what was reached. Outside a jit the flag
is concrete and the warning is raised at once; inside a user's jit (or vmap) a `jax.debug.callback` raises it when
the compiled program runs.
"""
import os
import sys
import warnings

import jax
import numpy as np

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class ConvergenceWarning(UserWarning):
  """An estimate stopped at its cap (max_matvecs, num_iters, max_iters) before reaching its tolerance."""


def _fmt(x):
  x = np.asarray(x)
  return f"{x.item():.4g}" if x.size == 1 else np.array2string(x, precision=4)


def _caller_stacklevel():
  """The stacklevel of the first frame outside this package (the user's call), for warnings.warn."""
  frame, level = sys._getframe(1), 1  # pylint: disable=protected-access
  while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
    frame, level = frame.f_back, level + 1
  return level


def _warn(converged, message, values):
  if not np.all(np.asarray(converged)):
    warnings.warn(message.format(**{k: _fmt(v) for k, v in values.items()}), ConvergenceWarning,
                  stacklevel=_caller_stacklevel())


def warn_unless_converged(converged, message, **values):
  """Warns `message.format(**values)` unless every entry of `converged` is True (values formatted to 4 digits)."""
  if isinstance(converged, jax.core.Tracer) or any(isinstance(v, jax.core.Tracer) for v in values.values()):
    jax.debug.callback(lambda c, v: _warn(c, message, v), converged, values)
  else:
    _warn(converged, message, values)
