"""Test helper: whole experiments simulated as in-memory run records (reader.RunRecord), no training, no disk.

`design(config)` reads what an experiment config ships (its arms and seeds through train.arms.run_configs, the
measured checkpoints, the probe tasks, the primary task, the curvature's downstream task); `runs(design, world,
rng)` draws one experiment's records from a `World`: how gaps, Tr(H) and probe accuracies behave.

Every run has its own effects (the independent seed design of train.arms): a run effect on its converged gap, on
Tr(H) and on each task's accuracy, checkpoint-to-checkpoint noise on top, probe-seed noise inside each checkpoint
and estimator noise on each trace. The gap falls with the step as

    gap(step) = gap_run + early · exp(−step / 300) + schedule · (1 − step / num_steps)²

(the fast first descent and the slow tail of a cosine schedule), plus `arm_gap` for an arm that does not converge
(SGD). `confound` makes Tr(H) rise and accuracy fall with the excess gap (gap − gap_run + arm_gap) only: the
loss-confounded null, where flatter is better only far from convergence. `effects` shifts an arm's accuracy (all
tasks), Tr(H) or gap. `shared` is the fraction of the run variance common to seed index k across arms (the old
paired design; 0 for independent streams).
"""
import dataclasses
import math

import numpy as np

from flatness_jax.rundir import reader, records
from flatness_jax.train import arms as arms_lib
from flatness_jax.train import schedule

OPTIMAL = 1.67  # nats


@dataclasses.dataclass(frozen=True)
class Design:
  name: str
  language: str                 # the language's name (summary.json's)
  runs: dict                    # run name -> resolved run config (dict)
  steps: dict                   # run name -> measured steps
  tasks: tuple
  primary: str
  downstream: tuple             # tasks with a downstream-loss trace


def _num_params(model: dict) -> int:
  d, layers = model["d_model"], model["num_layers"]
  per_layer = 4 * d * d + 2 * d * model["d_ff"] if model["kind"] == "bert" else 8 * d * d
  return int(layers * per_layer + 64 * d)


def _split(value) -> tuple:
  return tuple(t.strip() for t in str(value).split(",") if t.strip())


def design(config) -> Design:
  """The shipped design of an experiment config (arms × seeds, measured steps, tasks)."""
  subs = arms_lib.run_configs(config)
  steps = {}
  for name, sub in subs.items():
    available = schedule.checkpoint_steps(sub.checkpoint.every, sub.train.num_steps)
    spec = str(config.curvature.steps)
    steps[name] = (available[-int(spec[5:]):] if spec.startswith("last:")
                   else [int(s) for s in spec.split(",")])
  report = config.report
  primary = report.get("primary_task") or config.adversarial.task
  return Design(config.name, str(config.data.preset), {n: s.to_dict() for n, s in subs.items()}, steps,
                _split(config.probes.tasks), primary, _split(config.curvature.tasks))


@dataclasses.dataclass(frozen=True)
class World:
  gap: float = 0.014          # converged gap, fraction of L*
  gap_sd: float = 0.0015      # between runs
  gap_noise: float = 0.0003   # between checkpoints of a run
  early: float = 1.0
  schedule: float = 0.0315
  trace: float = 100.0
  trace_sd: float = 8.0
  trace_noise: float = 3.0
  trace_se: float = 4.0
  lambda_max: float = 10.0
  acc: float = 0.87
  acc_sd: float = 0.015
  acc_noise: float = 0.004
  probe_sd: float = 0.01
  down: float = 5.0
  down_sd: float = 1.0
  down_se: float = 0.3
  arm_gap: dict = dataclasses.field(default_factory=lambda: {"sgd": 0.035})
  confound: tuple = (0.0, 0.0)  # (Tr(H) per unit excess gap, accuracy lost per unit excess gap)
  effects: dict = dataclasses.field(default_factory=dict)  # arm -> {"acc": Δ, "trace": Δ, "gap": Δ}
  shared: float = 0.0
  traces: dict = dataclasses.field(default_factory=dict)   # (run, step) -> (Tr(H), SE, λmax) overrides


def _evaluation(step, gap):
  se = 0.002
  return records.Evaluation(step, OPTIMAL * (1 + gap), se * OPTIMAL, OPTIMAL, 0.0, gap * OPTIMAL, se * OPTIMAL,
                            gap, se)


def runs(d: Design, w: World, rng) -> list:
  """One simulated experiment: a RunRecord per run of the design."""
  seeds = sorted({c["replicate"] for c in d.runs.values()})
  common = {k: rng.standard_normal(3 + len(d.tasks)) for k in seeds}
  out = []
  for name, config in d.runs.items():
    arm, k = config["arm"], config["replicate"]
    own = rng.standard_normal(3 + len(d.tasks))
    u = math.sqrt(w.shared) * common[k] + math.sqrt(1 - w.shared) * own
    fx = w.effects.get(arm, {})
    gap_run = w.gap + w.gap_sd * u[0] + fx.get("gap", 0.0)
    trace_run = w.trace + w.trace_sd * u[1] + fx.get("trace", 0.0)
    down_run = w.down + w.down_sd * u[2]
    acc_run = {t: w.acc + w.acc_sd * u[3 + i] + fx.get("acc", 0.0) for i, t in enumerate(d.tasks)}
    n = config["train"]["num_steps"]
    evaluations, curvature, probe_steps = {}, {}, {}
    for step in d.steps[name]:
      excess = w.early * math.exp(-step / 300) + w.schedule * (1 - step / n) ** 2 + w.arm_gap.get(arm, 0.0)
      gap = gap_run + excess + w.gap_noise * rng.standard_normal()
      evaluations[step] = _evaluation(step, gap)
      tr = trace_run + w.confound[0] * excess + w.trace_noise * rng.standard_normal()
      tr_est = tr + w.trace_se * rng.standard_normal()
      tr_est, tr_se, lam = w.traces.get((name, step), (tr_est, w.trace_se, w.lambda_max))
      down = {t: records.Estimate(down_run + w.down_se * rng.standard_normal(), w.down_se, dof=31)
              for t in d.downstream}
      curvature[step] = records.Curvature(
          step=step, loss=OPTIMAL * (1 + gap), hessian={records.HUTCHINSON: records.Estimate(tr_est, tr_se, dof=31)},
          lambda_max=records.Eigenvalue(lam), embedded=records.Estimate(0.6 * tr_est, 0.6 * tr_se, dof=31),
          embedded_into="m", embedded_loss=OPTIMAL * (1 + gap), downstream=down)
      probe = {}
      for t in d.tasks:
        mean = acc_run[t] - w.confound[1] * excess + w.acc_noise * rng.standard_normal()
        per_seed = mean + w.probe_sd * rng.standard_normal(5)
        probe[t] = records.ProbeAccuracy(float(per_seed.mean()), float(per_seed.std(ddof=1)), tuple(per_seed))
      probe_steps[step] = records.CheckpointProbes(step, probe)
    tasks = {t: records.TaskReference(0.25, 0.97, 4, 400) for t in d.tasks}
    summary = records.Summary(_num_params(config["model"]), n, d.language, evaluations[max(evaluations)])
    out.append(reader.RunRecord(workdir=name, name=name, arm=arm, seed=int(config["seed"]), replicate=k,
                                config=config, summary=summary, evaluations=evaluations, curvature=curvature,
                                probes=records.Probes(tasks=tasks, steps=probe_steps), pairs=None))
  return out


def main(argv):
  """python -m tests.analysis.simulate CONFIG[:ARG] [SIMS]: the share of simulated reports (global null) that
  print any verdict, and of the loss-confounded null's reports whose flatness row reads as a verdict."""
  import importlib  # pylint: disable=g-import-not-at-top
  import re  # pylint: disable=g-import-not-at-top
  from flatness_jax.analysis import report_markdown  # pylint: disable=g-import-not-at-top
  name, _, arg = argv[1].partition(":")
  sims = int(argv[2]) if len(argv) > 2 else 200
  config = importlib.import_module(f"experiments.configs.{name}").get_config(arg or None)
  d = design(config)
  settings = report_markdown.Settings.of(config.report, num_boot=200)
  verdict = re.compile(r"\*\*(reproduced|opposite|differs)")
  for label, world in (("global null", World()), ("loss-confounded null", World(confound=(270.0, 0.7)))):
    rng = np.random.default_rng(2027)
    any_row = flatness = 0
    for _ in range(sims):
      text = report_markdown.build(runs(d, world, rng), settings, figures=False).text
      any_row += bool(verdict.search(text))
      rows = [l for l in text.splitlines() if l.startswith(f"| Flatter is better, task {d.primary}")]
      flatness += bool(rows and verdict.search(rows[0]))
    print(f"{argv[1]} {label}: any verdict in {any_row / sims:.3f} of {sims} reports; the flatness row in "
          f"{flatness / sims:.3f}")


if __name__ == "__main__":
  import sys  # pylint: disable=g-import-not-at-top
  main(sys.argv)
