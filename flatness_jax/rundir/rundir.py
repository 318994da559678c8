"""A run directory read back: its config, language, model, records and checkpointed parameters.

Analyses (curvature, probes, reports) start from run directories, never from memory. `RunDir(workdir)` rebuilds
the language and model from `config.json` and restores the parameters of any checkpointed step onto one device.
Files of a run directory (written by flatness_jax.train.loop and the jobs):
  config.json (resolved config), metrics.jsonl (one row per logged step; held-out rows carry `gap`),
  heldout_losses.npz (per-pair held-out losses by step), summary.json, checkpoints/<step>/default (Orbax),
  curvature.json, probes.json, tensorboard/, .writer.lock (flatness_jax.rundir.lock).
"""
import os

import jax
import ml_collections
import orbax.checkpoint as ocp

from flatness_jax.data.registry import make_language
from flatness_jax.models import count_params, make_model
from flatness_jax.rundir import jsonio

CONFIG = "config.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CHECKPOINTS = "checkpoints"
CURVATURE = "curvature.json"
PROBES = "probes.json"


def sibling_dir(workdir: str, config, arm: str) -> str:
  """The directory of the same seed of another arm of the same experiment: `<root>/<arm>` for a single-seed run
  (`<root>/<this arm>`), `<root>/<arm>/seed_<k>` for seed k of several (`<root>/<this arm>/seed_<k>`)."""
  workdir = os.path.abspath(workdir)
  base = os.path.basename(os.path.normpath(workdir))
  mine = config.get("arm", "") if config is not None else ""
  if mine and base != mine:
    return os.path.join(os.path.dirname(os.path.dirname(workdir)), arm, base)
  return os.path.join(os.path.dirname(workdir), arm)


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


class RunDir:
  """A run directory: config, summary, metrics, and parameters by step."""

  def __init__(self, workdir: str):
    self.workdir = os.path.abspath(workdir)  # Orbax reads absolute paths only
    config = jsonio.read_json(os.path.join(self.workdir, CONFIG))
    if config is None:
      raise FileNotFoundError(f"{workdir} is not a run directory (no {CONFIG})")
    self.config = ml_collections.ConfigDict(config)
    self.language = make_language(self.config.data)
    self.max_length = self.config.model.get("max_length", 0) or self.language.max_length
    self.model = make_model(self.config.model, self.language.vocab_size, self.max_length)
    self.ckpt_dir = os.path.join(self.workdir, CHECKPOINTS)

  @property
  def name(self) -> str:
    return os.path.basename(os.path.normpath(self.workdir))

  def path(self, name: str) -> str:
    return os.path.join(self.workdir, name)

  @property
  def arm(self) -> str:
    """The arm this run replicates (config.arm; runs from before arms existed: the directory name)."""
    return self.config.get("arm", "") or self.name

  def sibling(self, arm: str) -> str:
    """The directory of the same seed of another arm of the same experiment (`sibling_dir`)."""
    return sibling_dir(self.workdir, self.config, arm)

  def steps(self) -> list[int]:
    """Checkpointed steps (complete checkpoints only), ascending."""
    if not os.path.isdir(self.ckpt_dir):
      return []
    return sorted(int(s) for s in os.listdir(self.ckpt_dir)
                  if s.isdigit() and os.path.isdir(os.path.join(self.ckpt_dir, s, "default")))

  def select_steps(self, spec: str) -> list[int]:
    """Checkpointed steps named by `spec` ('last', 'last:N', 'all', or '200,400'; see `select_steps`)."""
    return select_steps(self.steps(), spec, self.workdir)

  def params(self, step: int):
    """The parameters saved at `step` (plain arrays on the default device)."""
    path = os.path.join(self.ckpt_dir, str(step), "default")
    try:
      restored = ocp.StandardCheckpointer().restore(path)
    except Exception as e:  # pylint: disable=broad-except
      raise RuntimeError(f"checkpoint {path} could not be read: {type(e).__name__}: {e}") from e
    return jax.tree.map(jax.numpy.asarray, restored["params"])

  def summary(self) -> dict:
    return jsonio.read_json(self.path(SUMMARY), {})

  def metrics(self) -> list[dict]:
    return jsonio.read_jsonl(self.path(METRICS))

  def eval_at(self, step: int) -> dict:
    """The held-out evaluation row logged at `step` (gap, gap_se, ...), or {}."""
    rows = [r for r in self.metrics() if r.get("step") == step and "gap" in r]
    return rows[-1] if rows else {}

  def num_params(self, step: int | None = None) -> int:
    step = self.steps()[-1] if step is None else step
    return count_params(self.params(step))
