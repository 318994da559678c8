"""The seeds of one arm trained as one program (`train.vmap_seeds`): S runs that differ only in their seed, their
states stacked on a leading axis and one `jax.vmap` of the training chunk stepping all of them per call.

Each seed keeps its own Trainer (its initialisation, data stream and mask keys, held-out pairs and evaluation) and
its own run directory and record; only the chunk call is shared. The S chunks compute what S separate calls would
(vmap batches the same operations; on CPU the results agree with separate runs to float32 rounding, tested), so a
run trained in a group is the run trained alone. On an accelerator one program of S× the work fills the device
better than S small ones; on a 2-core CPU it gains nothing measurable, so the cpu tier leaves it off.

Supported: one process on one device, the algorithms without host-side state between chunks (standard, sam,
trace_penalty); the adversary refits its head per seed on the host, so adversarial arms train separately.
`SeedGroup` quacks like a Trainer for flatness_jax.train.loop.run: its state is the list of the seeds' states, its
row the list of their rows.
"""
import time

import jax
import jax.numpy as jnp

from flatness_jax.train import trainer as trainer_lib

VMAPPABLE = ("standard", "sam", "trace_penalty")


def why_not(configs, num_devices: int, num_processes: int) -> str:
  """Why these run configs cannot train as one group ('' when they can)."""
  if len(configs) < 2:
    return "fewer than 2 seeds"
  algo = configs[0].train.get("algorithm", "standard")
  if algo not in VMAPPABLE:
    return f"train.algorithm={algo!r} keeps host-side state per seed (vmap_seeds supports {', '.join(VMAPPABLE)})"
  if num_devices != 1 or num_processes != 1:
    return f"vmap_seeds runs on one device of one process ({num_devices} devices, {num_processes} processes here)"
  base = _without_seed(configs[0])
  for c in configs[1:]:
    if _without_seed(c) != base:
      return "the runs differ in more than their seed"
  return ""


def _without_seed(config) -> dict:
  """The run config less what differs between the seeds of an arm (flatness_jax.train.arms.replicate_config)."""
  d = config.to_dict()
  d.pop("seed", None)
  d.pop("replicate", None)
  d.get("adversarial", {}).pop("seed", None)
  return d


def stack(states):
  """The seeds' states stacked on a new leading axis."""
  return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def unstack(stacked, n: int) -> list:
  """The inverse of `stack`."""
  return [jax.tree.map(lambda x, i=i: x[i], stacked) for i in range(n)]


class SeedGroup:
  """S Trainers of one arm stepped by one vmapped chunk (module docstring)."""

  def __init__(self, trainers):
    self.trainers = list(trainers)
    self.config = self.trainers[0].config
    chunk = jax.vmap(self.trainers[0].chunk_fn, in_axes=(0, 0, 0, 0, None, None))
    self._chunk = jax.jit(lambda s, t, l, k: chunk(s, t, l, k, None, None), donate_argnums=(0,))
    self._keys = jnp.stack([t.mask_key for t in self.trainers])

  def run_chunk(self, states, a: int, b: int):
    """(the S states after steps [a, b), their S metrics rows)."""
    batches = [t.feed.get(a, b)[:2] for t in self.trainers]
    tokens = jnp.stack([jnp.asarray(tok) for tok, _ in batches])
    lengths = jnp.stack([jnp.asarray(n) for _, n in batches])
    t0 = time.time()
    stacked, m = self._chunk(stack(states), tokens, lengths, self._keys)
    for t in self.trainers:  # the next chunk's data are drawn while this one runs (feed.Prefetch)
      t.prefetch_after(b)
    n = len(self.trainers)
    per_seed = unstack(jax.device_get(m), n)
    seconds = (time.time() - t0) / n  # each seed's share of the call
    rows = []
    for t, m_i, (_, lengths_i) in zip(self.trainers, per_seed, batches):
      try:
        rows.append(t.chunk_row(m_i, a, b, lengths_i, seconds))
      except trainer_lib.TrainingDivergedError as e:  # name the seed whose loss diverged
        raise trainer_lib.TrainingDivergedError(f"{t.workdir}: {e}", e.step) from None
    return unstack(stacked, n), rows


def group_hooks(hooks_per_seed):
  """One list of loop hooks that calls each seed's hook on its own state and row (the seeds share a schedule, so
  the i-th hooks of every seed are due at the same steps)."""
  from flatness_jax.train import loop  # pylint: disable=g-import-not-at-top

  out = []
  for same in zip(*hooks_per_seed):
    def fn(step, states, rows, same=same):
      rows = rows if isinstance(rows, list) else [rows] * len(states)
      return [h.fn(step, s, r) or s for h, s, r in zip(same, states, rows)]
    out.append(loop.Hook(fn, same[0].steps, same[0].on_stop))
  return out
