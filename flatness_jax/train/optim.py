"""Optimisers and learning-rate schedules (optax), built from `config.optimizer`.

Schedules: linear warmup from 0 to `learning_rate` over `warmup_steps` (or `warmup_fraction` of the run; the
paper's SGD uses 12%), then 'constant', 'linear' (to `end_fraction`·peak at the last step) or 'cosine' (likewise).
Optimisers: AdamW (Loshchilov & Hutter 2019) with decoupled weight decay, SGD with (Nesterov) momentum; both behind
optional global-norm gradient clipping (`clip_norm` > 0).
"""
import ml_collections
import optax

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("constant", "linear", "cosine")


def default_optimizer_config() -> ml_collections.ConfigDict:
  """Every optimizer field, with its meaning."""
  c = ml_collections.ConfigDict()
  c.name = "adamw"            # 'adamw' | 'sgd'.
  c.learning_rate = 3e-3      # Peak learning rate.
  c.schedule = "cosine"       # After warmup: 'constant' | 'linear' | 'cosine'.
  c.warmup_steps = 200        # Linear warmup steps (used when warmup_fraction is 0).
  c.warmup_fraction = 0.0     # Warmup as a fraction of num_steps (paper's SGD: 0.12); overrides warmup_steps.
  c.end_fraction = 0.02       # Final lr as a fraction of the peak ('linear', 'cosine').
  c.b1 = 0.9                  # AdamW beta1.
  c.b2 = 0.98                 # AdamW beta2.
  c.eps = 1e-8                # AdamW epsilon.
  c.weight_decay = 0.0        # AdamW decoupled weight decay.
  c.momentum = 0.9            # SGD momentum (0 for plain SGD).
  c.nesterov = False          # SGD Nesterov momentum.
  c.clip_norm = 1.0           # Global gradient-norm clipping; 0 disables.
  return c


def validate_optimizer_config(c, num_steps: int) -> None:
  """Raises ValueError naming the field for impossible optimizer settings (cheap, before compiling)."""
  if c.name not in OPTIMIZERS:
    raise ValueError(f"optimizer.name={c.name!r} is unknown; choose one of {OPTIMIZERS}")
  if c.schedule not in SCHEDULES:
    raise ValueError(f"optimizer.schedule={c.schedule!r} is unknown; choose one of {SCHEDULES}")
  if not c.learning_rate > 0:
    raise ValueError(f"optimizer.learning_rate={c.learning_rate} must be > 0")
  if not 0 <= c.warmup_fraction < 1:
    raise ValueError(f"optimizer.warmup_fraction={c.warmup_fraction} must be in [0, 1)")
  if c.warmup_steps < 0 or warmup_steps(c, num_steps) > num_steps:
    raise ValueError(f"optimizer.warmup_steps={c.warmup_steps} must be in [0, num_steps={num_steps}]")
  if not 0 <= c.end_fraction <= 1:
    raise ValueError(f"optimizer.end_fraction={c.end_fraction} must be in [0, 1]")
  if c.clip_norm < 0:
    raise ValueError(f"optimizer.clip_norm={c.clip_norm} must be >= 0")


def warmup_steps(c, num_steps: int) -> int:
  """Number of warmup steps: warmup_fraction·num_steps when set, else warmup_steps."""
  return int(round(c.warmup_fraction * num_steps)) if c.warmup_fraction else int(c.warmup_steps)


def make_schedule(c, num_steps: int) -> optax.Schedule:
  """Warmup then constant / linear / cosine decay to end_fraction·peak at `num_steps`."""
  warm = warmup_steps(c, num_steps)
  peak, end = c.learning_rate, c.learning_rate * c.end_fraction
  decay_steps = max(num_steps - warm, 1)
  if c.schedule == "constant":
    after = optax.constant_schedule(peak)
  elif c.schedule == "linear":
    after = optax.linear_schedule(peak, end, decay_steps)
  else:
    after = optax.cosine_decay_schedule(peak, decay_steps, alpha=c.end_fraction)
  if warm == 0:
    return after
  return optax.join_schedules([optax.linear_schedule(0.0, peak, warm), after], [warm])


def make_optimizer(c, num_steps: int) -> optax.GradientTransformation:
  """The optax transformation for `config.optimizer` over a run of `num_steps` steps."""
  validate_optimizer_config(c, num_steps)
  lr = make_schedule(c, num_steps)
  if c.name == "adamw":
    opt = optax.adamw(lr, b1=c.b1, b2=c.b2, eps=c.eps, weight_decay=c.weight_decay)
  else:
    opt = optax.sgd(lr, momentum=c.momentum or None, nesterov=c.nesterov)
  if c.clip_norm:
    opt = optax.chain(optax.clip_by_global_norm(c.clip_norm), opt)
  return opt
