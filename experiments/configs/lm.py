"""The paper's third language (Liu et al. 2023, §3): text of a causal LM restricted to K tokens, generated after one
of C latent prompts, with its exact optimal masked-LM loss; the prompt task (its Bayes ceiling exact) and, where
tensorflow-datasets has them prepared, GLUE QNLI / SST-2 as downstream tasks (flatness_jax.data.lm, lm_config,
glue; experiments/configs/languages.py's `lm` row).

Command:  python -m experiments.main --config=configs/lm.py --workdir=runs/lm
          data card → cpu_s pre-trained by the quickstart recipe for 6,000 steps → curvature (with the prompt
          task's downstream-loss trace) → mean-pooled linear probes → report.md.
Runtime:  2 cores: about ten minutes.
Reaches:  a held-out gap of a few % of L*; prompt-probe accuracy between the card's majority rate and Bayes ceiling.
Variants: :opt125m --config.data.checkpoint=PATH  the paper's setting (OPT-125M, K = 2,000, L = 24, no prompts:
          GLUE only), bert_235m, batch 4096, FSDP; plan it first: python -m experiments.plan
          --config=configs/lm.py:opt125m.  :tiny  seconds (the decoder language shrunk, common.tiny's budgets).
The experiments take this language as `:lm` (results/README.md has their answers on it).
"""
from experiments.configs import base
from experiments.configs import common
from experiments.configs import languages
from experiments.configs import quickstart
from flatness_jax.train import arms

# The budget on the CPU language: cpu_s with the quickstart's recipe (batch 256, AdamW lr 3e-3, 200 warmup steps,
# cosine to 2%), the same 6,000 steps as configs/continued.py.
NUM_STEPS = 6000


def get_config(arg=None):
  """arg: 'opt125m' (the paper's setting, see Variants above), 'tiny' (the decoder language shrunk, common.tiny's
  budgets), 'seeds=S'."""
  a = common.parse_arg(arg, __file__, variant=common.Choice("", ("opt125m",)), tiny=False, seeds=1)
  c = quickstart.recipe()
  c.seeds = a.seeds
  c.stages = "data_card,train,curvature,probes,report"
  languages.apply(c, "lm", tiny=a.tiny)
  c.name = "lm"
  c.probes.steps = c.curvature.steps = "last"
  if a.variant == "opt125m":
    c.name = "lm_opt125m"
    c.arms = arms.make_arms(bert_235m={"model.preset": "bert_235m"})
    base.paper_scale(c, "bert_235m", learning_rate=1e-4, warmup_steps=10_000)  # sets data.preset = 'paper'
    c.model.dtype = "bfloat16"
    c.optimizer.weight_decay = 0.01
    c.probes.tasks = "qnli,sst2"  # The paper preset has no prompts (data.num_prompts adds them at C× the cost).
    c.curvature.tasks = ""        # GLUE has no labels of sampled sentences.
    c.adversarial.task = "sst2"   # Not usable: adversarial pre-training needs labels of sampled sentences.
    c.card.num_sentences = 10000
    c.probes.num_examples = 100_000  # (nearly) all of GLUE's training sets
  else:
    c.arms = arms.make_arms(cpu_s={"model.preset": "cpu_s"})
    c.train.num_steps = NUM_STEPS
    c.checkpoint.every = c.checkpoint.keep_period = 1000
    c.eval.every, c.eval.num_pairs = 250, 2048  # Exact conditionals cost C·K' decoder suffixes per pair.
    c.card.num_sentences = 2000
  if a.tiny:  # the decoder language shrunk (GLUE text still maps onto it), the cpu_tiny model, common.tiny's budgets
    c.name += "_tiny"
    c.stages = "data_card,train,probes,report"  # curvature is the quickstart's (tested there)
    c.arms = arms.make_arms(cpu_tiny={"model.preset": "cpu_tiny"})
    common.tiny(c)
    c.probes.num_examples = 24  # the mock GLUE of the tests has 24 examples per split
  return c
