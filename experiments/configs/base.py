"""Shared defaults of every training config (not a config to run by itself).

`train_config()` returns a ConfigDict with every field of a 'train' job; configs/quickstart.py, pcfg.py and
hmm.py start from it and change what they need. Field comments say what each one means.
"""
import ml_collections

from flatness_jax.models import default_model_config
from flatness_jax.train.optim import default_optimizer_config


def data_config(kind: str = "pcfg", preset: str = "cpu_easy") -> ml_collections.ConfigDict:
  d = ml_collections.ConfigDict()
  d.kind = kind              # 'pcfg' | 'hmm' | 'lm': the synthetic language.
  d.preset = preset          # A preset of flatness_jax.data (pcfg: cpu_easy, cpu_hard, paper, tiny, 'released'
  #                            (the authors' grammar, fetched and checksum-verified) or 'file' (grammar_path); hmm:
  #                            cpu, paper, tiny; lm: cpu, paper, tiny).
  d.grammar_path = ""        # preset='file': a grammar in the authors' text format. preset='released': a local copy
  #                            of the authors' file (checked against its sha256; '': $FLATNESS_RELEASED_GRAMMAR, else
  #                            the per-user cache, else downloaded: flatness_jax.data.released).
  d.seed = 0                 # Seed generating the grammar / HMM / random decoder (the language, not the samples).
  # kind='lm' only (flatness_jax.data.lm_config; 0 / '' = the preset's value). Presets: tiny, cpu, paper.
  d.checkpoint = ""          # OPT checkpoint directory (config.json + *.safetensors), required by preset 'paper'.
  d.num_tokens = 0           # K = |S|, the tokens the decoder is restricted to.
  d.max_length = 0           # L, the longest sentence in tokens.
  d.temperature = 0.0        # T: p(w | context) ∝ exp(logit_w / T) before the restriction.
  d.token_ids = ""           # S as comma-separated decoder ids ('': the K most frequent in sampled sentences).
  d.frequency_sentences = 0  # Sentences of the unrestricted model whose token counts pick the default S.
  d.num_prompts = 0          # C: latent prompts the sentences are generated after (>= 2: the task 'prompt').
  d.prompt_length = 0        # P: decoder tokens per prompt.
  d.glue_dir = ""            # tensorflow-datasets data dir with glue/qnli and glue/sst2 ('': TFDS's default).
  return d


def released_data(d) -> None:
  """Sets a data config to the authors' released grammar (the data layer finds, verifies or downloads the file;
  --config.data.grammar_path=PATH names a local copy)."""
  d.kind, d.preset, d.grammar_path = "pcfg", "released", ""


def train_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.job = "train"            # What experiments.main runs (see experiments/jobs.py).
  c.name = "train"           # Default run-directory name under runs/ when --workdir is not given.
  c.seed = 0                 # Seed of initialisation, training sentences and masks (all keyed from it).
  c.data = data_config()
  c.model = default_model_config()  # flatness_jax.models: kind, preset, widths (see its comments).

  c.optimizer = default_optimizer_config()  # flatness_jax.train.optim (see its comments).

  c.train = ml_collections.ConfigDict()
  c.train.num_steps = 2600   # Optimizer steps.
  c.train.batch_size = 256   # Global batch (sentences per step); must be divisible by the data-axis devices.
  c.train.steps_per_call = 20  # Steps per jitted call (lax.scan); chunks also end at eval/checkpoint steps.
  c.train.masking = "one"    # 'one': one masked token per sentence (the paper's L); 'bert': 15%, 80/10/10.
  c.train.init_from = ""     # Start from the newest checkpoint's parameters of this run directory (fresh
  #                            optimizer state), e.g. to continue a converged model with another algorithm.
  c.train.algorithm = "standard"  # 'standard' | 'sam' | 'trace_penalty' | 'adversarial' (flatness_jax.train.algorithms).
  c.train.sam_rho = 0.05     # SAM radius ρ (algorithm='sam').
  c.train.trace_penalty = 0.01  # μ in L + μ·Tr(H) (algorithm='trace_penalty').
  c.train.trace_probes = 1   # Hutchinson probes per step for the penalty.
  c.train.adversarial_lambda = 0.5  # λ in L_pre − λ·L_down (algorithm='adversarial').
  c.train.adversarial_head_lr = 0.1  # SGD step of the probe head inside each training step (descent–ascent).

  c.adversarial = ml_collections.ConfigDict()
  c.adversarial.task = "A"   # Downstream task whose probe loss is maximised.
  c.adversarial.refit_every = 100  # Refit the probe head every this many steps (and at eval/checkpoint steps).
  c.adversarial.head_examples = 1024  # Labelled sentences the head is fitted on (a fixed split).
  c.adversarial.head_steps = 200  # Full-batch AdamW steps per head fit.
  c.adversarial.batch_size = 128  # Fresh labelled sentences per step for the adversarial term.
  c.adversarial.seed = 99    # Seed of the head split and the labelled stream (disjoint from training data).
  c.adversarial.match_gap_of = ""  # Arm (same seed, trained earlier) whose held-out gap λ is adapted to track, so
  #                                  the comparison is at equal loss (train.adversarial.LambdaControl); '': fixed λ.
  c.adversarial.gap_tolerance = 0.002  # Allowed excess gap over the reference at each evaluation (fraction of L*).
  c.adversarial.lambda_factor = 1.5  # λ ×/÷ this factor at every evaluation (up while within the tolerance).
  c.adversarial.lambda_max = 10.0  # Upper bound on the adapted λ.
  c.adversarial.start_step = 0  # The adversarial term is off (λ = 0, no λ adaptation) before this step: lets a
  #                               language with a loss plateau (the HMM's) leave it as the reference does first.

  c.eval = ml_collections.ConfigDict()
  c.eval.every = 200         # Held-out evaluation every this many steps (and at every checkpoint).
  c.eval.num_pairs = 4096    # Held-out (sentence, masked position) pairs, with exact optimal losses.
  c.eval.seed = 12345        # Seed of the held-out pairs (fixed across runs so gaps are comparable).
  c.eval.batch_size = 1024   # Pairs per evaluation call; divisible by the data-axis devices.

  c.checkpoint = ml_collections.ConfigDict()
  c.checkpoint.every = 200   # Checkpoints at 0, 1, 2, 4, ... < every, then every this many steps, and the end.
  c.checkpoint.keep_period = 0  # Also keep multiples of this step forever (0: none).
  c.checkpoint.max_to_keep = 3  # Keep the newest this many besides the log-spaced and keep_period ones.

  c.parallel = ml_collections.ConfigDict()
  c.parallel.model_parallelism = 1  # Size of the 'model' mesh axis (-1: all devices); the rest is 'data'.
  c.parallel.fsdp = False    # Shard parameters and optimizer state over the data axis (large models).
  c.parallel.concurrent_runs = 1  # Runs of an experiment trained (then measured) at once, one host thread each, on
  #                                 one device of one process (flatness_jax.jobs.concurrent_runs): small models
  #                                 leave cores idle.
  return c


def paper_scale(c, model_preset: str, learning_rate: float, warmup_steps: int):
  """Turns a CPU config into the paper-scale one: the paper's batch 4096, a long run, FSDP, sparse evaluation.

  The step budget and learning rate are our choices (stated in each config), not taken from the paper.
  """
  c.data.preset = "paper"
  c.model.preset = model_preset
  c.train.batch_size = 4096
  c.train.num_steps = 100_000
  c.train.steps_per_call = 1
  c.optimizer.learning_rate = learning_rate
  c.optimizer.warmup_steps = warmup_steps
  c.eval.every, c.eval.num_pairs, c.eval.batch_size = 2000, 16384, 4096
  c.checkpoint.every, c.checkpoint.keep_period = 5000, 10_000
  c.parallel.fsdp = True
  return c
