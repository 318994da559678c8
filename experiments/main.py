"""Entry point: `python -m experiments.main --config=configs/NAME.py --workdir=DIR`.

This file is intentionally short (as nanodo's main.py): it parses flags and hands the resolved config to the job
it names (`config.job`); the jobs live in importable, tested modules (flatness_jax.jobs).
`--config=configs/NAME.py` is looked up relative to the current directory first, then relative to experiments/,
so the literal command works from the repository root. Dotted overrides work as usual:
`--config.model.num_layers=4`.

Bad input (an unknown config field, a missing or broken config file, a malformed config value, grammar file or
checkpoint, a full or read-only disk, a run directory another process is writing) stops with one line,
`error: <what is wrong>`, and exit status 2 (experiments/errors.py); `--traceback` shows the whole traceback
instead. Unexpected errors always keep their traceback. A training run stopped by SIGTERM or SIGINT saves its
checkpoint and exits with status 75 (flatness_jax.train.loop.EXIT_STOPPED); the same command resumes it.
"""
import logging as std_logging
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from experiments import config_path, errors


_resolve_config_argv = config_path.resolve_config_argv


config_flags.DEFINE_config_file("config", None, "Path to a config file (configs/NAME.py[:arg]).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Run directory (created if missing; a run there resumes).")
flags.DEFINE_bool("traceback", False, "Show the full traceback of a bad-input error instead of its one line.")
FLAGS = flags.FLAGS


class _QuietLibraries(std_logging.Filter):
  """Keeps INFO lines of our own code; libraries (Orbax, JAX) speak only at WARNING and above."""

  def filter(self, record):
    return record.levelno >= std_logging.WARNING or "flatness_jax" in record.pathname or "experiments" in record.pathname


def parse_flags(argv):
  """absl's flag parsing, with the config file loaded and its overrides applied here, so that their errors are
  answered in one line (errors.config_flags_one_line)."""
  with errors.config_flags_one_line(argv, show_traceback="--traceback" in argv):
    rest = FLAGS(argv)
    if FLAGS.config is None:
      raise ValueError("--config is required (--config=configs/NAME.py[:ARG])")
    FLAGS.config.get("job")  # a config file that failed to load raises on first use: here
  return rest


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.get_absl_handler().addFilter(_QuietLibraries())
  from flatness_jax.parallel import compile_cache, distributed  # pylint: disable=g-import-not-at-top
  distributed.maybe_initialize()  # jax.distributed.initialize when the environment asks for it (launch/)
  cache = compile_cache.enable()  # persistent XLA cache (FLATNESS_COMPILATION_CACHE=off disables it)
  import jax  # pylint: disable=g-import-not-at-top
  from flatness_jax import jobs  # pylint: disable=g-import-not-at-top
  logging.info("process %d/%d, devices: %s; compilation cache: %s", jax.process_index(), jax.process_count(),
               jax.devices(), cache or "off")
  workdir = FLAGS.workdir or os.path.join("runs", FLAGS.config.get("name", FLAGS.config.job))
  with errors.one_line(show_traceback=FLAGS.traceback):
    jobs.run(FLAGS.config, workdir)


if __name__ == "__main__":
  sys.argv = _resolve_config_argv(sys.argv)
  app.run(main, flags_parser=parse_flags)
