"""A run directory opened for analysis jobs: its config, and (built on first use) its language, model and
checkpointed parameters.

`RunDir(workdir)` reads config.json only; `language` and `model` are built from it the first time they are asked
for (the LM language rebuilds a decoder and a token set, so jobs that need only the records never pay for it), and
`params(step)` restores one checkpoint (flatness_jax.rundir.checkpoints knows the layout). Records are read with
flatness_jax.rundir.reader.
"""
import functools
import os

import ml_collections

from flatness_jax.data.registry import make_language
from flatness_jax.models import count_params, make_model
from flatness_jax.rundir import checkpoints, jsonio, layout


class RunDir:
  """A run directory: config, checkpointed steps, parameters by step; language and model on demand."""

  def __init__(self, workdir: str):
    self.workdir = os.path.abspath(workdir)  # Orbax reads absolute paths only
    config = jsonio.read_json(os.path.join(self.workdir, layout.CONFIG))
    why = layout.not_a_run(workdir, config, ("data", "model"))
    if why:
      raise FileNotFoundError(why)
    self.config = ml_collections.ConfigDict(config)

  @functools.cached_property
  def language(self):
    return make_language(self.config.data)

  @functools.cached_property
  def max_length(self) -> int:
    return self.config.model.get("max_length", 0) or self.language.max_length

  @functools.cached_property
  def model(self):
    return make_model(self.config.model, self.language.vocab_size, self.max_length)

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
    """The directory of the same seed of another arm of the same experiment (layout.sibling_dir)."""
    return layout.sibling_dir(self.workdir, self.config, arm)

  def steps(self) -> list[int]:
    """Checkpointed steps (complete checkpoints only), ascending."""
    return checkpoints.complete_steps(self.workdir)

  def select_steps(self, spec: str) -> list[int]:
    """Checkpointed steps named by `spec` ('last', 'last:N', 'all', or '200,400'; see layout.select_steps)."""
    return layout.select_steps(self.steps(), spec, self.workdir)

  def params(self, step: int):
    """The parameters saved at `step` (plain arrays on the default device)."""
    return checkpoints.restore_params(self.workdir, step)

  def num_params(self, step: int | None = None) -> int:
    step = self.steps()[-1] if step is None else step
    return count_params(self.params(step))
