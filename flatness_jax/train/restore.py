"""Reading a finished (or running) run directory back: its config, language, model and checkpointed parameters.

Analyses (curvature, probes, reports) start from run directories, never from memory: `RunDir(workdir)` rebuilds
the language and model from `config.json` and restores parameters of any checkpointed step onto one device.
"""
import json
import os

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from flatness_jax import data as data_lib
from flatness_jax import models as models_lib
from flatness_jax.train import metrics as metrics_lib


class RunDir:
  """A run directory: config, summary, metrics, and parameters by step."""

  def __init__(self, workdir: str):
    self.workdir = os.path.abspath(workdir)  # Orbax reads absolute paths only
    path = os.path.join(self.workdir, "config.json")
    if not os.path.exists(path):
      raise FileNotFoundError(f"{workdir} is not a run directory (no config.json)")
    with open(path) as f:
      self.config = ml_collections.ConfigDict(json.load(f))
    self.language = data_lib.make_language(self.config.data)
    self.max_length = self.config.model.get("max_length", 0) or self.language.max_length
    self.model = models_lib.make_model(self.config.model, self.language.vocab_size, self.max_length)
    self.ckpt_dir = os.path.join(self.workdir, "checkpoints")

  @property
  def name(self) -> str:
    return os.path.basename(os.path.normpath(self.workdir))

  def steps(self) -> list[int]:
    """Checkpointed steps (complete checkpoints only), ascending."""
    if not os.path.isdir(self.ckpt_dir):
      return []
    return sorted(int(s) for s in os.listdir(self.ckpt_dir)
                  if s.isdigit() and os.path.isdir(os.path.join(self.ckpt_dir, s, "default")))

  def params(self, step: int):
    """The parameters saved at `step` (plain arrays on the default device)."""
    path = os.path.join(self.ckpt_dir, str(step), "default")
    try:
      restored = ocp.StandardCheckpointer().restore(path)
    except Exception as e:  # pylint: disable=broad-except
      raise RuntimeError(f"checkpoint {path} could not be read: {type(e).__name__}: {e}") from e
    return jax.tree.map(jax.numpy.asarray, restored["params"])

  def summary(self) -> dict:
    path = os.path.join(self.workdir, "summary.json")
    return json.load(open(path)) if os.path.exists(path) else {}

  def metrics(self) -> list[dict]:
    return metrics_lib.read_jsonl(os.path.join(self.workdir, "metrics.jsonl"))

  def eval_at(self, step: int) -> dict:
    """The held-out evaluation row logged at `step` (gap, gap_se, ...), or {}."""
    rows = [r for r in self.metrics() if r.get("step") == step and "gap" in r]
    return rows[-1] if rows else {}

  def num_params(self, step: int | None = None) -> int:
    step = self.steps()[-1] if step is None else step
    return int(sum(np.size(x) for x in jax.tree.leaves(self.params(step))))
