"""When the training loop stops: the event steps (evaluation, checkpoints, adversary refits) and the scan chunks
between them.

The loop runs `lax.scan` chunks of steps; a chunk never crosses an event step, so evaluations and checkpoints see
exactly the state after that step, whatever the chunk length.
"""


def checkpoint_steps(every: int, num_steps: int) -> list[int]:
  """0, 1, 2, 4, ... (< every), then multiples of `every`, then num_steps: the steps that get a checkpoint."""
  steps = {0, num_steps}
  p = 1
  while p < min(every, num_steps):
    steps.add(p)
    p *= 2
  steps.update(range(every, num_steps, every))
  return sorted(s for s in steps if 0 <= s <= num_steps)


def protected_steps(every: int, num_steps: int) -> list[int]:
  """The log-spaced early checkpoints (below `every`), which the keep policy never deletes."""
  return [s for s in checkpoint_steps(every, num_steps) if s < every]


def evaluation_steps(config) -> list[int]:
  """Steps with a held-out evaluation: every eval.every steps, and every checkpoint step."""
  n = config.train.num_steps
  return sorted(set(range(0, n + 1, config.eval.every)) | set(checkpoint_steps(config.checkpoint.every, n)))


def event_steps(config) -> list[int]:
  """Steps at which the loop stops to evaluate, checkpoint or refit the adversary's head (the chunks end there)."""
  n = config.train.num_steps
  steps = set(checkpoint_steps(config.checkpoint.every, n))
  steps.update(range(0, n, config.eval.every))
  if config.train.get("algorithm") == "adversarial":
    steps.update(range(0, n, config.adversarial.refit_every))
    if 0 < config.adversarial.get("start_step", 0) < n:
      steps.add(int(config.adversarial.start_step))  # the adversarial term switches on exactly there
  steps.add(n)
  return sorted(steps)


def chunk_bounds(config, start: int) -> list[tuple[int, int]]:
  """[(a, b), ...]: consecutive step ranges from `start` that never cross an event step.

  Each range has length steps_per_call or 1 (what is left before an event runs step by step). The Trainer runs
  both lengths through one program (flatness_jax.train.step.up_to: inputs padded to steps_per_call); the seeds
  trained as one vmapped program (flatness_jax.train.seed_group) compile a scan per length, so two lengths, not
  the several that ranges up to each event would make: on CPU compiling one takes longer than running the few
  dozen single steps the log-spaced early checkpoints leave.
  """
  k = config.train.steps_per_call
  events = [s for s in event_steps(config) if s > start]
  out, a = [], start
  for e in events:
    while a < e:
      n = _chunk_length(k, a, e)
      out.append((a, a + n))
      a += n
  return out


def next_chunk(config, start: int):
  """The chunk the loop runs from `start` (the first of `chunk_bounds(config, start)`), None at the end."""
  events = [s for s in event_steps(config) if s > start]
  if not events:
    return None
  return start, start + _chunk_length(config.train.steps_per_call, start, events[0])


def _chunk_length(k: int, a: int, event: int) -> int:
  """Steps of the chunk from `a` before the next event: steps_per_call `k` where they fit, else 1."""
  return k if event - a >= k else 1
