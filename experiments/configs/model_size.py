"""Model size at equal pre-training loss (Liu et al. 2023, §3 and Fig. 2; the reviewers' "is flatness just size?"):
three transformers of one head width (16: xs 32×2, s 64×2, m 128×2) trained by the quickstart recipe to the same
held-out gap, then per size Tr(H) in its own parameterization and embedded function-preservingly into m's
architecture (flatness_jax.models.embed), the Fisher trace and linear-probe accuracies; 3 pre-training seeds.

Command:  python -m experiments.main --config=configs/model_size.py[:LANG[,long|,steps=N][,xs_steps=N]] \
          --workdir=runs/model_size
          (LANG: pcfg, hmm, released, lm, or hmm_lstm: bidirectional LSTMs of 32/64/128 units embedded by
          flatness_jax.models.embed_lstm; ',long' trains every size for LONG_STEPS, the recipe that brings the HMM,
          the released grammar and the LM language to equal loss within the saturation gap; ',steps=N' trains s and
          m N steps and xs 2N, the base recipe's proportions; ',xs_steps=N' then trains xs N steps)
Runtime:  cpu tier, 2 cores: per language and stage in results/cpu/stages.md.
Reaches:  the size, flatter, flatness-beyond-size and downstream-flatness verdicts per language in results/README.md
          (report: results/cpu/model_size/LANG/report.md).
"""
from experiments.configs import common, languages, quickstart
from flatness_jax.train import arms

# Three transformers of one head width (16): xs (4× fewer FLOPs per token) trains twice the steps to reach s's gap
# (the gaps each size reaches are in results/cpu/model_size/LANG/report.md).
SIZES = {"xs": {"model.preset": "cpu_xs", "model.head_dim": 16, "train.num_steps": 5200},
         "s": {"model.preset": "cpu_s", "model.head_dim": 16},
         "m": {"model.preset": "cpu_m", "model.num_heads": 8, "model.head_dim": 16}}
LSTM_SIZES = {"xs": {"model.preset": "lstm_cpu_xs", "train.num_steps": 5200},
              "s": {"model.preset": "lstm_cpu_s"},
              "m": {"model.preset": "lstm_cpu_m"}}
# ',long': the steps that bring the HMM's, the released grammar's and the LM language's transformers to equal loss
# within the saturation gap, where the base recipe's steps stop short of it.
LONG_STEPS = {"xs": 14000, "s": 6000, "m": 6000}


def get_config(arg=None):
  """arg: a language (pcfg (default), hmm, released) or 'hmm_lstm' (bidirectional LSTMs of widths 32/64/128 on the
  HMM language: see LSTMs above); 'long' to train every size for LONG_STEPS (e.g. configs/model_size.py:hmm,long),
  or 'steps=N' to train s and m N steps and xs 2N; 'xs_steps=N' to train xs N steps over any of those; 'tiny';
  'seeds=S'."""
  a = common.parse_arg(arg, __file__, lang=common.Choice("pcfg", languages.CHOICE.options + ("hmm_lstm",)),
                       long=False, steps=0, xs_steps=0, tiny=False, seeds=3)
  least = "must be at least 400 (the two last checkpoints are measured)"
  common.check_steps(a, arg, __file__, 400, least)
  common.check_least(a, arg, __file__, "xs_steps", 400, least)
  c = quickstart.recipe()
  c.name = "model_size"
  c.seeds = a.seeds  # Pre-training seeds per arm (verdicts need >= 2).
  c.stages = "train,curvature,probes,report"
  c.report.committed = ""  # The quickstart's pointer into results/ is its own.
  c.arms = arms.make_arms(**(LSTM_SIZES if a.lang == "hmm_lstm" else SIZES))
  # Confirmatory: larger is better at equal loss; flatter is better; the reviewers' two questions.
  c.report.claims = "size,flatter,flatness_beyond_size,downstream_flatness"
  c.curvature.embed_into = "m"  # Also measure Tr(H) of each run embedded into this run's architecture (for the
  #                               LSTMs too: flatness_jax.models.embed_lstm repeats hidden units).
  if a.long:
    for size, steps in LONG_STEPS.items():
      arms.put(c.arms[size], "train.num_steps", steps)
    c.name = "model_size_long"
  if a.steps:
    for size in c.arms:
      arms.put(c.arms[size], "train.num_steps", 2 * a.steps if size == "xs" else a.steps)
    c.name = f"model_size_{a.steps}"
  if a.xs_steps:  # xs alone, over the recipe above (xs settles at its own pace: results/cpu/steps.md)
    arms.put(c.arms["xs"], "train.num_steps", a.xs_steps)
    c.name += f"_xs{a.xs_steps}"
  if a.lang == "hmm_lstm":
    languages.apply(c, "hmm")
    c.name += "_lstm"
  else:
    languages.apply(c, a.lang, tiny=a.tiny)
  return common.tiny(c) if a.tiny else c
