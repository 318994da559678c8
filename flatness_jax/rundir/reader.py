"""The one reader of a run directory's records: `read_run(workdir) -> RunRecord` (typed, no JSON keys outside).

Reports, the results/ records and the jobs all read runs through here, so a file's format is known in one place
(records for the JSON, pair_losses for the npz, checkpoints for the parameters). Nothing here builds the language or
the model (flatness_jax.rundir.rundir.RunDir does, lazily, for the jobs that need them).
"""
import dataclasses
import os
from typing import Optional

from flatness_jax.rundir import jsonio, layout, pair_losses, records


@dataclasses.dataclass(frozen=True)
class RunRecord:
  """Everything a run directory recorded: config, training summary, held-out evaluations by step, curvature and
  probes by checkpoint step, per-pair held-out losses; `missing` names the record files it lacks."""
  workdir: str
  name: str              # 'arm' or 'arm/seed_k'
  arm: str               # what the run replicates (a size, an algorithm); runs without one: the name
  seed: int              # the pre-training seed
  replicate: int         # k of seed_k
  config: dict
  summary: Optional[records.Summary]
  evaluations: dict      # step -> records.Evaluation
  curvature: dict        # step -> records.Curvature
  probes: records.Probes
  pairs: Optional[pair_losses.PairLosses]
  missing: tuple = ()

  @property
  def language(self) -> str:
    return self.summary.language if self.summary else ""

  @property
  def num_params(self) -> int:
    return self.summary.num_params if self.summary else 0

  @property
  def data_kind(self) -> str:
    return self.config.get("data", {}).get("kind", "")

  def measured_steps(self) -> list[int]:
    """Steps with a held-out evaluation and a curvature or probe measurement, ascending."""
    return sorted(s for s in set(self.curvature) | set(self.probes.steps) if s in self.evaluations)


def read_evaluations(workdir: str) -> dict:
  """{step: Evaluation} of the run's metrics.jsonl (the last row of a step wins)."""
  rows = jsonio.read_jsonl(os.path.join(workdir, layout.METRICS))
  return {int(r["step"]): records.Evaluation.from_json(r) for r in rows if records.Evaluation.is_evaluation(r)}


def read_run(workdir: str) -> RunRecord:
  """The typed record of the run directory `workdir` (FileNotFoundError when it has no config.json)."""
  path = lambda name: os.path.join(workdir, name)  # pylint: disable=unnecessary-lambda-assignment
  config = jsonio.read_json(path(layout.CONFIG))
  if config is None:
    raise FileNotFoundError(f"{workdir} is not a run directory (no {layout.CONFIG})")
  name = layout.run_name(workdir, config)
  missing = tuple(f for f in (layout.METRICS, layout.SUMMARY, layout.CURVATURE, layout.PROBES)
                  if not os.path.exists(path(f)))
  return RunRecord(workdir=workdir, name=name, arm=config.get("arm") or name, seed=int(config.get("seed", 0)),
                   replicate=int(config.get("replicate", 0)), config=config,
                   summary=records.Summary.from_json(jsonio.read_json(path(layout.SUMMARY))),
                   evaluations=read_evaluations(workdir),
                   curvature=records.read_curvature_steps(jsonio.read_json(path(layout.CURVATURE), {})),
                   probes=records.Probes.from_json(jsonio.read_json(path(layout.PROBES))),
                   pairs=pair_losses.load(workdir), missing=missing)
