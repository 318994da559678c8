"""The CPU quickstart, end to end: data card → two transformer sizes (cpu_xs, cpu_s) trained near the exact optimal
loss of a synthetic PCFG → curvature and linear probes of their converged checkpoints → report.md.

Command:  python -m experiments.main --config=configs/quickstart.py --workdir=runs/quickstart
Runtime:  cpu tier, 2 cores: a few minutes (results/cpu/stages.md, row quickstart); `:tiny` about a minute.
Reaches:  held-out gap ≤ 2% of L* for both sizes; the report ends by saying whether seed 0 matches the committed
          record (results/cpu/quickstart/pcfg/report.md; `:tiny`: results/tiny/quickstart/pcfg).
One seed per size (measurements, not verdicts); --config.seeds=3 or configs/model_size.py for the replicated answer.
Language: 'cpu_easy' (16 tokens, 50 words); recipe: pre-LN encoder, AdamW β=(0.9, 0.98), lr 3e-3, 200-step warmup,
          cosine to 2%; cpu_xs 3,600 and cpu_s 1,800 steps (the experiments built on this config: 5,200 and
          2,600). :tiny is the tiny PCFG and the cpu_tiny model with common.tiny's budgets.
"""
import ml_collections

from experiments.configs import base
from experiments.configs import common
from experiments.configs import curvature as curvature_config
from experiments.configs import probes as probes_config
from experiments.configs import report as report_config
from flatness_jax.train import arms


def get_config(arg=None):
  """arg: 'tiny' (the tiny language and model, tiny budgets: tests, debugging), 'seeds=S'."""
  c = recipe(arg)
  # The sharpness measures and the probe loss's Tr(H) enter the report only in correlations over ≥ 6 runs: at one
  # seed per size (2 runs) they are not measured (flatness_jax.jobs.curvature.correlatable_measures); with
  # --config.seeds=3 they are.
  c.curvature.only_if_correlatable = True
  return c


def recipe(arg=None):
  """The quickstart's language, sizes, recipe and measurement budgets, which the experiments built on it share
  (configs/model_size.py, continued.py, algorithms.py, lm.py, batch_sweep.py: they measure what they name)."""
  a = common.parse_arg(arg, __file__, tiny=False, seeds=1)
  c = base.train_config()
  c.job = "quickstart"
  c.name = "quickstart"
  c.stages = "data_card,train,curvature,probes,report"  # Pipeline stages, in order (flatness_jax.pipeline).
  # The arms (flatness_jax.train.arms): named partial configs trained in this order, each to <workdir>/<arm>.
  # cpu_xs (4× fewer FLOPs per token) trains twice the steps to reach cpu_s's gap. The quickstart's own step counts:
  # at 3 seeds they reach the same ≤ 2% gap as 5,200 / 2,600 did, in 31% fewer steps (git log of this file).
  c.arms = arms.make_arms(cpu_xs={"model.preset": "cpu_xs", "train.num_steps": 3600},
                          cpu_s={"model.preset": "cpu_s", "train.num_steps": 1800})
  c.run_arms = ""           # Arms to train, comma-separated, in this order ('': every arm); a model preset that is
  #                           not an arm trains as an arm of its own (--config.run_arms=cpu_s,cpu_m).
  c.seeds = a.seeds         # Pre-training seeds per arm (each run its own streams from `seed`: train.arms; runs
  #                           in <arm>/seed_<k> when > 1).
  #                           One seed gives measurements, not verdicts: the report says which rows are untested.
  c.parallel.concurrent_runs = 2  # Both sizes train at once, a host thread each (the same bytes, less time on 2
  #                                 cores: benchmarks/bench_concurrent.py).
  c.data.kind = "pcfg"
  c.data.preset = "cpu_easy"
  c.model.preset = "cpu_s"  # The model of arms that set no preset of their own (configs/algorithms.py's).
  c.train.num_steps = 2600  # The base recipe's steps: arms without steps of their own (model_size, algorithms).
  c.train.batch_size = 256
  c.optimizer.learning_rate = 3e-3
  c.optimizer.warmup_steps = 200
  c.optimizer.schedule = "cosine"
  c.optimizer.end_fraction = 0.02
  c.checkpoint.every = 200
  c.checkpoint.keep_period = 200  # Keep every 200-step checkpoint: later checkpoints are the continued-training record.

  c.card = ml_collections.ConfigDict()
  c.card.num_sentences = 10000  # Sentences for the data card's Monte Carlo estimates.
  c.card.sample_seed = 1        # Seed of those sentences.

  c.curvature = curvature_config.get_config().curvature
  c.curvature.steps = "last:2"  # The two newest checkpoints of each size (converged; continued training).
  c.curvature.methods = "hutchinson"  # Fixed budgets keep the CPU pipeline bounded (SEs are reported).
  c.curvature.rtol, c.curvature.num_matvecs, c.curvature.lanczos_iters = 0.0, 32, 10
  c.curvature.num_pairs = c.curvature.fisher_examples = c.curvature.downstream_examples = 512
  c.probes = probes_config.get_config().probes
  c.probes.steps = "last:2"
  c.probes.num_examples = 2000
  c.report = report_config.get_config().report
  c.report.claims = "size"  # The confirmatory family (flatness_jax.analysis.claims): larger vs smaller at equal loss.
  c.report.equal_loss_margin = 0.005  # Equal loss: the 90% Δgap interval inside ±0.5% of L* (TOST at 5%).
  # The committed record of this configuration (configs/paper.py commits it): the report says whether this machine
  # reproduced its seed 0.
  c.report.committed = f"results/{'tiny' if a.tiny else 'cpu'}/quickstart/pcfg"
  if a.tiny:
    tiny_language_and_model(c)
    common.tiny(c)
  return c


def tiny_language_and_model(c):
  """The tiny PCFG preset and one arm, the cpu_tiny transformer (quickstart.py:tiny, lm.py:tiny)."""
  c.data.preset = "tiny"
  c.arms = arms.make_arms(cpu_tiny={"model.preset": "cpu_tiny"})
