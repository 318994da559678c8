"""Optimisers and learning-rate schedules (optax), built from `config.optimizer`.

Schedules: linear warmup from 0 to `learning_rate` over `warmup_steps` (or `warmup_fraction` of the schedule; the
paper's SGD uses 12%), then 'constant', 'linear' (to `end_fraction`·peak at the schedule's last step) or 'cosine'
(likewise). The schedule spans `schedule_steps` (0: the run's `train.num_steps`); past its end the rate stays at its
final value, which is how a finished run is extended to more steps without changing the steps it already trained
(flatness_jax.train.resume).
Optimisers: AdamW (Loshchilov & Hutter 2019) with decoupled weight decay, SGD with (Nesterov) momentum; both behind
optional global-norm gradient clipping (`clip_norm` > 0).
"""
import math

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
  c.schedule_steps = 0        # Length of the lr schedule (0: train.num_steps); the lr stays at its end value after.
  return c


def _number(c, field: str, low: float, high: float, low_open: bool = False, high_open: bool = False) -> float:
  """c[field] as a finite number in the interval [low, high] (ends open as asked); ValueError naming the field."""
  value = c.get(field)
  ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
  ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
  if not ok:
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    raise ValueError(f"optimizer.{field}={value!r} must be a finite number in {interval}")
  return value


def schedule_length(c, num_steps: int) -> int:
  """Steps the learning-rate schedule spans: optimizer.schedule_steps, or the run's num_steps when it is 0."""
  return int(c.get("schedule_steps", 0) or num_steps)


def validate_optimizer_config(c, num_steps: int) -> None:
  """Raises ValueError naming the field for impossible optimizer settings (cheap, before compiling): unknown names,
  non-finite numbers, and values outside the range where the update is defined (0 <= b1, b2, momentum < 1,
  eps > 0: AdamW divides by sqrt(v) + eps, and v = 0 for a parameter that never had a gradient)."""
  if c.name not in OPTIMIZERS:
    raise ValueError(f"optimizer.name={c.name!r} is unknown; choose one of {OPTIMIZERS}")
  if c.schedule not in SCHEDULES:
    raise ValueError(f"optimizer.schedule={c.schedule!r} is unknown; choose one of {SCHEDULES}")
  _number(c, "learning_rate", 0, math.inf, low_open=True, high_open=True)
  _number(c, "warmup_fraction", 0, 1, high_open=True)
  _number(c, "end_fraction", 0, 1)
  for field in ("b1", "b2", "momentum"):
    _number(c, field, 0, 1, high_open=True)
  _number(c, "eps", 0, math.inf, low_open=True, high_open=True)
  _number(c, "weight_decay", 0, math.inf, high_open=True)
  _number(c, "clip_norm", 0, math.inf, high_open=True)
  if not isinstance(c.get("nesterov", False), bool):
    raise ValueError(f"optimizer.nesterov={c.nesterov!r} must be true or false")
  steps = c.get("schedule_steps", 0)
  if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
    raise ValueError(f"optimizer.schedule_steps={steps!r} must be an integer >= 0 (0: train.num_steps)")
  length = schedule_length(c, num_steps)
  if not isinstance(c.warmup_steps, int) or isinstance(c.warmup_steps, bool) or c.warmup_steps < 0 \
      or warmup_steps(c, num_steps) > length:
    raise ValueError(f"optimizer.warmup_steps={c.warmup_steps!r} must be an integer in [0, {length}] (the "
                     "schedule's length)")


def warmup_steps(c, num_steps: int) -> int:
  """Number of warmup steps: warmup_fraction of the schedule's length when set, else warmup_steps."""
  return int(round(c.warmup_fraction * schedule_length(c, num_steps))) if c.warmup_fraction else int(c.warmup_steps)


def make_schedule(c, num_steps: int) -> optax.Schedule:
  """Warmup then constant / linear / cosine decay to end_fraction·peak at the schedule's end (`schedule_length`),
  constant after it."""
  warm = warmup_steps(c, num_steps)
  peak, end = c.learning_rate, c.learning_rate * c.end_fraction
  decay_steps = max(schedule_length(c, num_steps) - warm, 1)
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
