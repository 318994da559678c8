"""The loop's chunking: ranges tile the run, stop at every event, and use few distinct lengths."""
from experiments.configs import base
from flatness_jax.train import schedule


def test_chunks_tile_the_run_and_respect_events():
  c = base.train_config()
  c.train.num_steps, c.train.steps_per_call, c.eval.every, c.checkpoint.every = 1000, 20, 200, 200
  for start in (0, 7, 200, 999):
    chunks = schedule.chunk_bounds(c, start)
    assert chunks[0][0] == start and chunks[-1][1] == 1000
    assert all(b0 == a1 for (_, b0), (a1, _) in zip(chunks, chunks[1:]))
    ends = {b for _, b in chunks}
    assert {e for e in schedule.event_steps(c) if e > start} <= ends
  lengths = {b - a for a, b in schedule.chunk_bounds(c, 0)}
  assert lengths == {20, 1}  # two compiled programs per run


def test_checkpoint_schedule_is_log_spaced_then_periodic():
  assert schedule.checkpoint_steps(100, 350) == [0, 1, 2, 4, 8, 16, 32, 64, 100, 200, 300, 350]
  assert schedule.checkpoint_steps(4, 10) == [0, 1, 2, 4, 8, 10]
  assert schedule.protected_steps(100, 350) == [0, 1, 2, 4, 8, 16, 32, 64]


def test_next_chunk_is_the_chunk_the_loop_runs_from_a_step():
  c = base.train_config()
  c.train.num_steps, c.train.steps_per_call, c.eval.every, c.checkpoint.every = 50, 8, 10, 20
  chunks = schedule.chunk_bounds(c, 0)
  for a, b in chunks:
    assert schedule.next_chunk(c, a) == (a, b)
  assert schedule.next_chunk(c, 13) == schedule.chunk_bounds(c, 13)[0]  # a resume between events
  assert schedule.next_chunk(c, 50) is None
