"""The files of a run directory, and how run directories of one experiment sit beside each other.

A run directory (one pre-training run) holds
  config.json           the fully resolved config that made it
  metrics.jsonl         one row per logged step; held-out evaluation rows carry `gap` (records.Evaluation)
  heldout_losses.npz    per-pair held-out losses by evaluation step (pair_losses)
  summary.json          the end of training (records.Summary)
  checkpoints/          Orbax checkpoints, <step>/default (checkpoints)
  curvature.json        per-checkpoint curvature (records.Curvature)
  probes.json           per-checkpoint probe accuracies and task references (records.Probes)
  tensorboard/          TensorFlow-free scalar events (tensorboard)
  .writer.lock          the one writer's lock (lock)
An experiment's runs: `<workdir>/<arm>` for one seed per arm, `<workdir>/<arm>/seed_<k>` for several; each run's
config.json records `arm` and `replicate` (k).
"""
import os

CONFIG = "config.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CURVATURE = "curvature.json"
PROBES = "probes.json"
TENSORBOARD = "tensorboard"
RUN_SECTIONS = ("data", "model", "optimizer", "train", "eval", "checkpoint")  # what a training run's config.json has


def is_run_config(doc, sections=RUN_SECTIONS) -> bool:
  """Whether a config.json document has the `sections` of a training run's record (not another tool's)."""
  return isinstance(doc, dict) and all(isinstance(doc.get(s), dict) for s in sections)


def not_a_run(workdir: str, doc, sections=("data",)) -> str:
  """Why `workdir` with config.json `doc` (None: absent) is not a run directory for a reader that needs the config's
  `sections` ('' when it is one)."""
  if doc is None:
    return f"{workdir} is not a run directory (no {CONFIG})"
  if not is_run_config(doc, sections):
    return (f"{workdir} is not a run directory: its {CONFIG} has no {'/'.join(sections)} section (another tool's "
            "directory?)")
  return ""


def sibling_dir(workdir: str, config, arm: str) -> str:
  """The directory of the same seed of another arm of the same experiment: `<root>/<arm>` for a single-seed run
  (`<root>/<this arm>`), `<root>/<arm>/seed_<k>` for seed k of several (`<root>/<this arm>/seed_<k>`)."""
  workdir = os.path.abspath(workdir)
  base = os.path.basename(os.path.normpath(workdir))
  mine = config.get("arm", "") if config is not None else ""
  if mine and base != mine:
    return os.path.join(os.path.dirname(os.path.dirname(workdir)), arm, base)
  return os.path.join(os.path.dirname(workdir), arm)


def run_name(workdir: str, config: dict) -> str:
  """'arm' for a single-seed run (or a run without an arm), 'arm/seed_k' for one seed of several."""
  base = os.path.basename(os.path.normpath(workdir))
  arm = config.get("arm")
  return f"{arm}/{base}" if arm and base != arm else base


def find_run_dirs(root: str) -> list[str]:
  """Run directories (those with config.json and metrics.jsonl) at or below `root`, sorted."""
  found = []
  for dirpath, _, files in os.walk(root):
    if CONFIG in files and METRICS in files:
      found.append(dirpath)
  return sorted(found)


def select_steps(available: list[int], spec: str, where: str = "") -> list[int]:
  """Steps named by `spec` among `available`: 'last', 'last:N' (the newest N), 'all', or a list '200,400'."""
  if not available:
    raise ValueError(f"{where or 'the run'} has no checkpoints")
  spec = str(spec).strip()
  if spec == "last":
    return available[-1:]
  if spec == "all":
    return list(available)
  if spec.startswith("last:"):
    try:
      n = int(spec[5:])
    except ValueError:
      n = 0
    if n < 1:
      raise ValueError(f"steps={spec!r}: 'last:N' needs a positive integer N")
    return available[-n:]
  try:
    wanted = [int(s) for s in spec.split(",") if s.strip()]
  except ValueError:
    raise ValueError(f"steps={spec!r}: expected 'last', 'last:N', 'all' or comma-separated step numbers") from None
  missing = sorted(set(wanted) - set(available))
  if missing:
    raise ValueError(f"steps {missing} are not checkpointed in {where or 'the run'}; available: {available}")
  return wanted
