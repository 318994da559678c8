"""Command-line helpers the benchmarks share."""
import argparse


def positive_int(text: str) -> int:
  """argparse `type` for counts (rounds, chunks, saves, steps): an int ≥ 1, else argparse's one-line usage error
  naming the option and the value."""
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"must be an int >= 1, got {text!r}") from None
  if value < 1:
    raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
  return value
