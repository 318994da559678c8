"""Bad input answered in one line: `error: <message>` on stderr and exit status 2, instead of a traceback.

An error counts as bad input when it is one of the named kinds below and was raised by this project's own code
(the innermost frame of its traceback lies in flatness_jax/ or experiments/): our checks raise ValueError naming the
field, GrammarError naming file:line, CheckpointError / RuntimeError naming the checkpoint, RunDirBusyError naming
the directory and its holder, TrainingDivergedError naming the step, FileNotFoundError naming the path. The same
types raised inside a library (a bug, or a case our checks missed) keep their traceback, as does every other error.
"""
import contextlib
import os
import sys
import traceback

EXIT_BAD_INPUT = 2
NAMED = (ValueError, RuntimeError, FloatingPointError, FileNotFoundError, NotADirectoryError, PermissionError)
_OURS = tuple(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), d) + os.sep
              for d in ("flatness_jax", "experiments"))


def raised_by_us(exc: BaseException) -> bool:
  """Whether the innermost frame of `exc`'s traceback is in flatness_jax/ or experiments/."""
  frames = traceback.extract_tb(exc.__traceback__)
  return bool(frames) and os.path.abspath(frames[-1].filename).startswith(_OURS)


def message(exc: BaseException) -> str:
  """The error as one line: 'error: <message>' (newlines folded)."""
  text = " ".join(str(exc).split()) or type(exc).__name__
  return f"error: {text}"


@contextlib.contextmanager
def one_line(show_traceback: bool = False):
  """Turns a named bad-input error raised by our code into one line on stderr and SystemExit(2)."""
  try:
    yield
  except NAMED as e:  # pylint: disable=catching-non-exception
    if show_traceback or not raised_by_us(e):
      raise
    sys.stderr.write(message(e) + "\n")
    sys.stderr.flush()
    raise SystemExit(EXIT_BAD_INPUT) from None
