"""The paper, one command per tier: every experiment (continued, model_size, algorithms with the adversarial arm) on
every language (pcfg, hmm, released, lm) of the tier, and the quickstart as the README runs it, then results/
rebuilt from the runs' compact records.

Command:  python -m experiments.main --config=configs/paper.py:<tier> --workdir=runs/paper_<tier>
          (<tier>: tiny | cpu | gpu | paper; --config.results=DIR writes the results elsewhere than results/;
          --config.plan_only=True prints the plan and rebuilds results/ without running a cell)
Runtime:  printed first: the plan (runs and estimated minutes per experiment × language and stage, from the
          committed results/<tier> records where they exist, else a stated cost model calibrated on them), then
          progress per stage.
Reaches:  results/<tier>/: per experiment × language report.md, figures, findings.json and compact run records;
          results/README.md, the claims × languages answer.

Tiers (each cell is an experiment config with its argument, CPU_ARGS below; the word `tiny` is common.tiny's):
  tiny   every cell with common.tiny's budgets and 2 seeds: the whole pipeline in minutes, not a measurement.
  cpu    the recipes that reach the saturation regime on 2 CPU cores, 3 seeds; model size also on the HMM's LSTMs;
         two runs train at once (parallel.concurrent_runs, as in tiny).
  gpu    the cpu tier's cells with 5 seeds (an accelerator buys seeds, not size), each arm's seeds trained as one
         program (train.vmap_seeds).
  paper  the gpu tier's cells with 5 seeds and the paper's batch size 4096 (the recipes stay the CPU ones: the
         paper-scale models are configs/pcfg.py:paper and its plan; planned, not yet run).
"""
import ml_collections

from experiments.configs import algorithms, common, continued, model_size, quickstart

EXPERIMENTS = {"quickstart": quickstart, "continued": continued, "model_size": model_size, "algorithms": algorithms}
LANGUAGES = ("pcfg", "hmm", "released", "lm")
TIERS = ("tiny", "cpu", "gpu", "paper")
SEEDS = {"tiny": 2, "cpu": 3, "gpu": 5, "paper": 5}
# Experiment -> language -> the experiment config's argument at the cpu tier (the recipes that reach saturation, and
# the adversarial arm in algorithms). ',long' wherever the base recipe's 2,600 cpu_s steps end outside the 3%
# saturation gap (the final checkpoints of those records: git log of results/cpu/{model_size,algorithms}/LANG); its
# 6,000 cpu_s steps reach the gap on each of the three (results/cpu/continued/LANG: the same recipe, 3 seeds).
LONG = ("hmm", "released", "lm")
# Fewer steps where every arm but SGD settles well before the end (results/cpu/steps.md: the slowest seed's settled
# step): (experiment, language) -> the `steps=N` of that experiment's config
# (algorithms: every arm N; model_size: s and m N, xs 2N), in the command, so the results page names the recipe and
# a record of another is stale; verified at the tier's 3 seeds by the cell's own record (results/cpu/steps.md).
# A cut to the slowest seed's settled step itself leaves the last checkpoints at the gate's edge (a shorter cosine
# ends barely below the long one at that step) or outside it, costs the report converged checkpoints, and can lose
# the equal loss the adversarial arm reaches by tracking AdamW's gap: algorithms × hmm at 4,400, algorithms × pcfg at
# 1,800 and model_size × hmm_lstm at 1,800 were run and not kept (git log of this file).
FEWER_STEPS = {("algorithms", "released"): 4000, ("model_size", "pcfg"): 1800}
# model_size's xs alone where it settles well before the others (its own `xs_steps=N`; s and m as above).
XS_STEPS = {("model_size", "lm"): 8000}


def _cpu_arg(exp: str, lang: str) -> str:
  """The experiment config's argument of one cell at the cpu tier (seeds aside)."""
  if exp == "continued":
    return lang
  arg = lang + (",adversarial" if exp == "algorithms" else "")
  if (exp, lang) in FEWER_STEPS:
    arg += f",steps={FEWER_STEPS[exp, lang]}"
  elif lang in LONG:
    arg += ",long"
  return arg + (f",xs_steps={XS_STEPS[exp, lang]}" if (exp, lang) in XS_STEPS else "")


CPU_ARGS = {"quickstart": {"pcfg": ""},
            "continued": {lang: _cpu_arg("continued", lang) for lang in LANGUAGES},
            "model_size": {lang: _cpu_arg("model_size", lang) for lang in LANGUAGES + ("hmm_lstm",)},
            "algorithms": {lang: _cpu_arg("algorithms", lang) for lang in LANGUAGES}}
PAPER_BATCH = 4096  # The paper's pre-training batch (paper tier).


def cell_args(tier: str) -> dict:
  """{(experiment, language): the experiment config's argument} of a tier, in the order the tier runs them."""
  out = {}
  for exp, by_lang in CPU_ARGS.items():
    for lang, arg in by_lang.items():
      if exp == "quickstart":  # the README's command as it stands (one seed), so its report can compare seed 0
        out[(exp, lang)] = "tiny" if tier == "tiny" else ""
        continue
      if tier == "tiny":
        if lang not in LANGUAGES:
          continue
        arg = f"{lang},adversarial" if exp == "algorithms" else lang
        arg += ",tiny"
      out[(exp, lang)] = f"{arg},seeds={SEEDS[tier]}"
  return out


def get_config(arg=None):
  """arg: the tier (tiny (default), cpu, gpu, paper)."""
  a = common.parse_arg(arg, __file__, tier=common.Choice("tiny", TIERS))
  c = ml_collections.ConfigDict()
  c.job = "tier"
  c.name = f"paper_{a.tier}"
  c.tier = a.tier           # The tier: its cells' results go to <results>/<tier>/.
  c.results = "results"     # Results root (relative to the current directory: run from the repository root).
  c.only = ""               # Comma-separated cells to run ('continued_pcfg,...'; '' every cell); results/ is rebuilt
  #                           from every cell recorded there.
  c.build_results = True    # Write results/ at the end (False: run the cells only).
  c.plan_only = False       # Print and write the plan, rebuild results/ from the committed records; run no cell.
  c.xla_fast_compile = a.tier == "tiny"  # XLA's optimisation passes mostly off (jax_disable_most_optimizations):
  #                           the tiny tier measures nothing and its time is mostly compilation; rounding aside,
  #                           the same numbers.
  c.cells = ml_collections.ConfigDict(sort_keys=False)  # Cell name -> {experiment, language, command, config}.
  for (exp, lang), cell_arg in cell_args(a.tier).items():
    cell = ml_collections.ConfigDict()
    cell.experiment = exp
    cell.language = lang
    cell.command = f"configs/{exp}.py" + (f":{cell_arg}" if cell_arg else "")
    cell.config = EXPERIMENTS[exp].get_config(cell_arg)
    if a.tier == "paper":
      cell.config.train.batch_size = PAPER_BATCH
    if a.tier in ("gpu", "paper"):
      cell.config.train.vmap_seeds = True  # the seeds of an arm as one program (flatness_jax.train.seed_group)
    else:
      cell.config.parallel.concurrent_runs = 2  # two runs at once on the 2 CPU cores (flatness_jax.jobs
      #                                           .concurrent_runs: the same bytes, less time)
    c.cells[f"{exp}_{lang}"] = cell
  return c
