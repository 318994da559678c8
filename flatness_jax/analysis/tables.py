"""Markdown cell formats shared by the report's tables and verdict lines."""
import numpy as np


def pm(value, err, scale=1.0, digits=2) -> str:
  """'value ± err' (both times `scale`), or '–' when the value is missing."""
  if value is None or not np.isfinite(value):
    return "–"
  return f"{scale * value:.{digits}f} ± {scale * err:.{digits}f}"


def ci(d, scale=1.0, digits=2) -> str:
  """'+estimate [+low, +high]' of an (estimate, low, high) triple, times `scale` ('[no interval]' when the bounds
  are not finite)."""
  if not (np.isfinite(d[1]) and np.isfinite(d[2])):
    return f"{scale * d[0]:+.{digits}f} [no interval]"
  return f"{scale * d[0]:+.{digits}f} [{scale * d[1]:+.{digits}f}, {scale * d[2]:+.{digits}f}]"
