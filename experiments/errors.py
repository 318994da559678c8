"""Bad input answered in one line: `error: <message>` on stderr and exit status 2, instead of a traceback.

An error counts as bad input when
  * it is one of the named kinds below and was raised by this project's own code (the innermost frame of its
    traceback lies in flatness_jax/ or experiments/): our checks raise ValueError naming the field, GrammarError
    naming file:line, CheckpointError naming the checkpoint, CorruptFileError naming the file, RunDirBusyError
    naming the directory and its holder, TrainingDivergedError naming the step, FileNotFoundError naming the path;
  * it is an OSError of a full, read-only or forbidden filesystem, whoever raised it (the line names the file);
  * it was raised while the flags were parsed: an unknown config field, a missing or broken config file, a config
    argument the config does not accept (`config_flags_one_line`).
The same types raised inside a library for other reasons (a bug, or a case our checks missed) keep their traceback,
as does every other error; `--traceback` keeps it for all. A line is at most MAX_CHARS characters, unless the
exception says its whole message is the instruction (`whole_line = True`: the released grammar's URL, checksum and
cache path, which a cut would lose).

An exception with an `exit_status` (flatness_jax.train.loop.Stopped: a run stopped by SIGTERM/SIGINT after saving
its checkpoint) is not an error: its one line goes to stderr and the process exits with that status.
"""
import contextlib
import errno
import os
import re
import sys
import traceback

EXIT_BAD_INPUT = 2
MAX_CHARS = 300
NAMED = (ValueError, RuntimeError, FloatingPointError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
         PermissionError)
DISK_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT)
_OURS = tuple(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), d) + os.sep
              for d in ("flatness_jax", "experiments"))


def raised_by_us(exc: BaseException) -> bool:
  """Whether the innermost frame of `exc`'s traceback is in flatness_jax/ or experiments/."""
  frames = traceback.extract_tb(exc.__traceback__)
  return bool(frames) and os.path.abspath(frames[-1].filename).startswith(_OURS)


def _chain(exc: BaseException):
  seen = set()
  while exc is not None and id(exc) not in seen:
    seen.add(id(exc))
    yield exc
    exc = exc.__cause__ or exc.__context__


def disk_error(exc: BaseException):
  """'<file>: <reason>' when `exc` (or what caused it) is an OSError of a full, read-only or forbidden filesystem."""
  for e in _chain(exc):
    if isinstance(e, OSError) and e.errno in DISK_ERRNOS:
      where = e.filename or "a file of the run"
      return f"{where}: {e.strerror or os.strerror(e.errno)}"
  return None


def _fold(text: str) -> str:
  text = " ".join(text.split())
  return text if len(text) <= MAX_CHARS - 7 else text[:MAX_CHARS - 8] + "…"


def message(exc: BaseException) -> str:
  """The error as one line: 'error: <message>' (newlines folded, at most MAX_CHARS characters)."""
  text = " ".join(str(exc).split())
  if not getattr(exc, "whole_line", False):
    text = _fold(text)
  return "error: " + (text or type(exc).__name__)


def _exit(line: str, status: int):
  sys.stderr.write(line + "\n")
  sys.stderr.flush()
  raise SystemExit(status) from None


@contextlib.contextmanager
def one_line(show_traceback: bool = False):
  """Turns bad input (module docstring) into one line on stderr and SystemExit(2); a stopped run into its line and
  its exit status."""
  try:
    yield
  except Exception as e:  # pylint: disable=broad-except
    status = getattr(e, "exit_status", None)
    if isinstance(status, int):
      _exit(_fold(str(e)), status)
    if show_traceback:
      raise
    disk = disk_error(e)
    if disk:
      _exit("error: " + _fold(f"cannot write {disk}; what was written before stays valid: free space or fix the "
                              "permissions, then rerun to resume"), EXIT_BAD_INPUT)
    if isinstance(e, NAMED) and raised_by_us(e):
      _exit(message(e), EXIT_BAD_INPUT)
    raise


def _flag_arg(argv, key: str) -> str:
  """The --config.* argument whose dotted path names `key`, or '--config...'."""
  for a in argv:
    if a.startswith("--config.") and key in a[len("--config."):].split("=")[0].split("."):
      return a.split("=")[0]
  return "--config"


def config_flag_line(exc: BaseException, argv) -> str:
  """One line for an error raised while the flags (and the config file) were parsed."""
  chain = list(_chain(exc))
  root = chain[-1]
  config = next((a for a in argv if a.startswith("--config=")), "--config")
  if isinstance(root, (KeyError, AttributeError)):
    key = re.sub(r"[\\'\"]", "", str(root)).split("nDid you mean")[0].split("Did you mean")[0].strip()
    near = re.search(r'Did you mean [\\]*"([^"\\]+)', " ".join(str(e) for e in chain))
    return (f"error: {_flag_arg(argv, key)}: the config has no field {key!r}"
            + (f" (did you mean {near.group(1)!r}?)" if near else ""))
  unknown = re.search(r"Unknown command line flag '([^']+)'", str(root))
  if unknown:
    name = unknown.group(1)
    if name.startswith("config."):
      return f"error: --{name}: the config has no field {name.rsplit('.', 1)[-1]!r}"
    return f"error: unknown flag --{name}"
  if isinstance(root, SyntaxError):
    return f"error: {root.filename}:{root.lineno}: {root.msg} (the config file does not parse)"
  if isinstance(root, OSError) and "Failed loading config file" in str(root):
    return f"error: {config}: no such config file (looked in the current directory and in experiments/)"
  first = (str(exc).strip().splitlines() or [""])[0]
  if first.startswith("flag ") and "Error whilst parsing config file" not in first:
    return "error: " + _fold(first)
  if isinstance(root, ValueError) and raised_by_us(root):
    return message(root)
  return "error: " + _fold(f"{config}: {type(root).__name__}: {(str(root).strip().splitlines() or [''])[0]}")


@contextlib.contextmanager
def config_flags_one_line(argv, show_traceback: bool = False):
  """While flags are parsed: any error becomes one line (config_flag_line) and exit status 2."""
  try:
    yield
  except Exception as e:  # pylint: disable=broad-except
    if show_traceback:
      raise
    _exit(config_flag_line(e, argv), EXIT_BAD_INPUT)
