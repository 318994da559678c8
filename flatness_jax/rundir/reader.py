"""The one reader of a run directory's records: `read_run(workdir) -> RunRecord` (typed, no JSON keys outside).

Reports, the results/ records and the jobs all read runs through here, so a file's format is known in one place
(records for the JSON, pair_losses for the npz, checkpoints for the parameters). Nothing here builds the language or
the model (flatness_jax.rundir.rundir.RunDir does, lazily, for the jobs that need them), and nothing is written.

What a reader must not hide is in the record too: `missing` names the record files the run lacks, `problems`
describes what could not be read (a file that does not match its checksum or does not parse, a damaged or torn
line of metrics.jsonl: its row is absent from `evaluations`; checkpoints and records a run moved aside as corrupt),
and `writer` names the process that holds the run's writer lock now (`in_progress`: the run is still being
written, so its records are not final). Without summary.json, `num_params` is counted from the newest checkpoint's
saved shapes (exact), not reported as 0.
"""
import dataclasses
import os
from typing import Optional

from flatness_jax.rundir import checkpoints, integrity, jsonio, layout, lock, pair_losses, records


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
  missing: tuple = ()    # record files the run lacks (layout names)
  problems: tuple = ()   # what could not be read, one sentence each
  writer: str = ""       # 'pid N on HOST' while another process holds the writer lock, else ''
  checkpoint_params: int = 0  # parameters counted from the newest checkpoint (0: no checkpoint)

  @property
  def in_progress(self) -> bool:
    """Whether a writer holds the run directory now (its records may still change)."""
    return bool(self.writer)

  @property
  def language(self) -> str:
    return self.summary.language if self.summary else ""

  @property
  def num_params(self) -> int:
    """Parameters of the model: summary.json's count, else the newest checkpoint's (0 only without either)."""
    return self.summary.num_params if self.summary else self.checkpoint_params

  @property
  def data_kind(self) -> str:
    return self.config.get("data", {}).get("kind", "")

  def measured_steps(self) -> list[int]:
    """Steps with a held-out evaluation and a curvature or probe measurement, ascending."""
    return sorted(s for s in set(self.curvature) | set(self.probes.steps) if s in self.evaluations)


def read_evaluations(workdir: str, problems: list | None = None) -> dict:
  """{step: Evaluation} of the run's metrics.jsonl (the last row of a step wins); lines that do not parse are
  described in `problems`."""
  rows = jsonio.read_jsonl(os.path.join(workdir, layout.METRICS), problems)
  return {int(r["step"]): records.Evaluation.from_json(r) for r in rows if records.Evaluation.is_evaluation(r)}


def _read(problems: list, fn, *args, default=None):
  """fn(*args), or `default` with the reason in `problems` when the file is corrupt."""
  try:
    return fn(*args)
  except integrity.CorruptFileError as e:
    problems.append(str(e))
    return default


def read_run(workdir: str) -> RunRecord:
  """The typed record of the run directory `workdir` (FileNotFoundError when it is not one: no config.json, or
  another tool's); corrupt or damaged records are described in `problems`, never raised."""
  path = lambda name: os.path.join(workdir, name)  # pylint: disable=unnecessary-lambda-assignment
  config = jsonio.read_json(path(layout.CONFIG))
  why = layout.not_a_run(workdir, config)
  if why:
    raise FileNotFoundError(why)
  name = layout.run_name(workdir, config)
  missing = tuple(f for f in (layout.METRICS, layout.SUMMARY, layout.CURVATURE, layout.PROBES)
                  if not os.path.exists(path(f)))
  problems = []
  aside = checkpoints.moved_aside(workdir) + integrity.moved_aside_records(workdir)
  if aside:
    problems.append(f"moved aside as corrupt (kept, not read): {', '.join(aside)}")
  summary = records.Summary.from_json(_read(problems, jsonio.read_json, path(layout.SUMMARY)))
  steps = checkpoints.complete_steps(workdir)
  counted = 0 if summary or not steps else _read(problems, checkpoints.param_count, workdir, steps[-1], default=0)
  return RunRecord(workdir=workdir, name=name, arm=config.get("arm") or name, seed=int(config.get("seed", 0)),
                   replicate=int(config.get("replicate", 0)), config=config, summary=summary,
                   evaluations=_read(problems, read_evaluations, workdir, problems, default={}),
                   curvature=records.read_curvature_steps(_read(problems, jsonio.read_json, path(layout.CURVATURE),
                                                                {}, default={})),
                   probes=records.Probes.from_json(_read(problems, jsonio.read_json, path(layout.PROBES))),
                   pairs=_read(problems, pair_losses.load, workdir), missing=missing, problems=tuple(problems),
                   writer=lock.holder(workdir) or "", checkpoint_params=counted)
