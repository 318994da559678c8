"""`--config=configs/NAME.py` from the repository root: the configs live in experiments/configs/."""
import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def resolve_config_argv(argv):
  """Rewrites `--config=configs/x.py[:arg]` to experiments/configs/x.py when the cwd has no such file."""
  out = []
  for a in argv:
    if a.startswith("--config="):
      path, sep, arg = a[len("--config="):].partition(":")
      if not os.path.exists(path) and os.path.exists(os.path.join(_HERE, path)):
        a = "--config=" + os.path.join(_HERE, path) + sep + arg
    out.append(a)
  return out
