"""The trainer's feed: the next chunk's data drawn on the feed thread while a chunk trains change no byte of a run."""
import jax
import numpy as np

from experiments.configs import tiny
from flatness_jax.train import loop, schedule
from flatness_jax.train import trainer as trainer_lib


def _config():
  """The tiny run, adversarial (its chunks carry the adversary's labelled sentences too; λ fixed, no reference arm;
  head refits every 8 steps)."""
  c = tiny.get_config()
  c.train.num_steps, c.train.steps_per_call = 30, 4
  c.train.algorithm, c.train.adversarial_lambda = "adversarial", 1.0
  c.adversarial.batch_size, c.adversarial.head_examples, c.adversarial.refit_every = 8, 64, 8
  return c


def _train(config, prefetch: bool):
  trainer = trainer_lib.Trainer(config)
  trainer.prefetch = prefetch
  state = loop.run(trainer, trainer.fresh_state(), 0)
  return trainer, jax.tree.map(np.asarray, jax.device_get(state.params))


def test_prefetching_the_next_chunk_trains_the_same_bytes():
  config = _config()
  ahead, params = _train(config, prefetch=True)
  inline, reference = _train(config, prefetch=False)
  jax.tree.map(np.testing.assert_array_equal, params, reference)
  chunks = schedule.chunk_bounds(config, 0)
  # Every chunk but the first was drawn on the feed thread; without prefetch, every chunk on the caller's thread.
  assert len(ahead.feed.threads) == len(chunks) > 5
  assert ahead.feed.threads[0] == "MainThread" and all(t.startswith("feed") for t in ahead.feed.threads[1:])
  assert inline.feed.threads == ["MainThread"] * len(chunks)
  # Chunks of several lengths (4, and single steps before the log-spaced checkpoints) ran one compiled program.
  assert len({b - a for a, b in chunks}) > 1 and len(ahead.train_chunk.executables) == 1
