"""The CPU quickstart pipeline: data card → train several sizes → curvature → probes → report (one command).

Each stage writes into the workdir, and each is also its own job (configs/data_card.py, quickstart's sizes,
configs/curvature.py, configs/probes.py, configs/report.py), so a stage can be rerun alone; a rerun of the whole
pipeline resumes training from checkpoints and re-measures only what is missing from curvature.json/probes.json.
The pipeline holds its workdir's writer lock, and each stage holds its run directory's.
"""
import os

from flatness_jax.analysis import report
from flatness_jax.data import card as card_lib
from flatness_jax.data import make_language
from flatness_jax.eval import curvature_run, probe_run
from flatness_jax.rundir import fields, jsonio, lock, rundir, timing
from flatness_jax.train import arms, loop

STAGES = ("data_card", "train", "curvature", "probes", "report")


def _stages(config) -> list[str]:
  stages = fields.split_list(config.stages)
  unknown = [s for s in stages if s not in STAGES]
  if unknown:
    raise ValueError(f"stages: unknown {unknown}; known stages: {list(STAGES)}")
  return stages


def _measured(path: str, steps: list[int], key: str | None = None) -> bool:
  """Whether the json file at `path` has every step (and, if given, `key` in every step's entry)."""
  have = jsonio.read_json(path, {}).get("steps", {})
  return all(str(s) in have and (key is None or key in have[str(s)]) for s in steps)


def run_quickstart(config, workdir: str) -> None:
  """Runs the configured stages in order; prints where the report lies and where the time went (timings.json)."""
  stages = _stages(config)
  times = timing.StageTimes()
  try:
    with lock.writer_lock(workdir):
      _run(config, workdir, stages, times)
  finally:
    times.close()
  print("\n" + times.table())
  if jsonio.is_writer():
    # The latest timing of every stage this workdir ran: a report-only call replaces the report's entry only.
    path = os.path.join(workdir, "timings.json")
    jsonio.write_json_atomic(path, {**jsonio.read_json(path, {}), **times.as_dict()})


def _run(config, workdir, stages, times) -> None:
  language = make_language(config.data)
  if "data_card" in stages:
    with times.stage("data_card"):
      card = card_lib.compute_card(language, config.card.num_sentences, config.card.sample_seed, progress=True)
    if jsonio.is_writer():
      jsonio.write_json_atomic(os.path.join(workdir, "data_card.json"), card)
    print(card_lib.format_card(card))
  runs = arms.run_configs(config)
  run_dirs = [os.path.join(workdir, name) for name in runs]
  if "train" in stages:
    summaries = {}
    for name, sub in runs.items():
      with times.stage(f"train {name}"):
        summaries[name] = loop.train_and_evaluate(sub, os.path.join(workdir, name))
    table = arms.format_table(summaries)
    if jsonio.is_writer():
      with open(os.path.join(workdir, "sizes.md"), "w") as f:
        f.write(table + "\n")
    print(table)
  for name, d in zip(runs, run_dirs):
    if "curvature" in stages:
      steps = rundir.RunDir(d).select_steps(config.curvature.steps)
      if not _measured(os.path.join(d, rundir.CURVATURE), steps):
        with times.stage(f"curvature {name}"):
          curvature_run.run_curvature(config, d)
    if "probes" in stages:
      steps = rundir.RunDir(d).select_steps(config.probes.steps)
      if not _measured(os.path.join(d, rundir.PROBES), steps, "finetune" if config.probes.get("finetune") else None):
        with times.stage(f"probes {name}"):
          probe_run.run_probes(config, d)
  if "report" in stages:
    with times.stage("report"):
      path = report.build_report(run_dirs, workdir, saturated_gap=config.report.saturated_gap,
                                 iso_tol=config.report.iso_tol)
    print(open(path).read())
    print(f"\nreport: {os.path.abspath(path)}")
