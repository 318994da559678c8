"""Continued training after convergence (Liu et al. 2023, §3 and Fig. 1): one cpu_s transformer trained well past
the point where its held-out loss reaches the optimum, measured at 11 checkpoints (gap ± SE, Tr(H), Fisher trace,
λ_max, probe accuracy per task), 3 pre-training seeds.

Command:  python -m experiments.main --config=configs/continued.py[:LANG] --workdir=runs/continued
          (LANG: pcfg (default), hmm, released, lm; experiments/configs/languages.py)
Runtime:  cpu tier, 2 cores: per language and stage in results/cpu/stages.md.
Reaches:  gaps within 3% of L* from the first measured checkpoint on; the continued-training verdict per language
          in results/README.md (report: results/cpu/continued/LANG/report.md).
"""
from experiments.configs import common, languages, quickstart
from flatness_jax.train import arms


def get_config(arg=None):
  """arg: a language (pcfg (default), hmm, released: experiments/configs/languages.py), 'tiny', 'seeds=S'."""
  a = common.parse_arg(arg, __file__, lang=languages.CHOICE, tiny=False, seeds=3)
  c = quickstart.recipe()
  c.name = "continued"
  c.seeds = a.seeds  # Pre-training seeds per arm (verdicts need >= 2).
  c.stages = "train,curvature,probes,report"
  c.report.committed = ""  # The quickstart's pointer into results/ is its own.
  c.arms = arms.make_arms(cpu_s={"model.preset": "cpu_s"})  # One arm: the quickstart's cpu_s transformer.
  c.train.num_steps = 6000
  c.checkpoint.every = c.checkpoint.keep_period = 400
  measured = ",".join(str(s) for s in range(2000, 6001, 400))
  c.curvature.steps = c.probes.steps = measured
  c.curvature.same_probes = True  # Common random numbers across checkpoints (their differences are the question).
  # The sharpness measures and the probe loss's Tr(H) enter a report only in correlations over >= 6 runs: one arm at
  # 3 seeds does not measure them (flatness_jax.jobs.curvature.correlatable_measures); --config.seeds=6 does.
  c.curvature.only_if_correlatable = True
  c.report.claims = "continued"  # Confirmatory: continued training improves the primary task at equal loss.
  languages.apply(c, a.lang, tiny=a.tiny)
  return common.tiny(c) if a.tiny else c
