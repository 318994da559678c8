"""timings.json across invocations: a resumed or rerun stage adds its time to what earlier calls spent, so a cell's
per-stage account is the time its workdir cost, not its last call's."""
import os

from flatness_jax.jobs import timing
from flatness_jax.rundir import jsonio


def test_accumulate_adds_every_field_of_a_rerun_stage_and_keeps_the_others():
  old = {"train a/seed_0": {"wall": 100.0, "trace": 4.0, "compile": 20.0, "cache_hits": 1},
         "report": {"wall": 2.0, "trace": 0.5, "compile": 0.0, "cache_hits": 0}}
  new = {"train a/seed_0": {"wall": 30.0, "trace": 1.0, "compile": 0.0, "cache_hits": 3},
         "curvature a/seed_0": {"wall": 9.0, "trace": 2.0, "compile": 5.0, "cache_hits": 0}}
  got = timing.accumulate(old, new)
  assert got["train a/seed_0"] == {"wall": 130.0, "trace": 5.0, "compile": 20.0, "cache_hits": 4}
  assert got["report"] == old["report"] and got["curvature a/seed_0"] == new["curvature a/seed_0"]
  assert list(got) == ["train a/seed_0", "report", "curvature a/seed_0"]  # earlier stages keep their place
  assert old["train a/seed_0"]["wall"] == 100.0  # inputs untouched


def test_a_resumed_training_stage_is_the_sum_of_its_parts(tmp_path):
  path = os.path.join(tmp_path, "timings.json")
  for wall in (70.0, 50.0):  # killed after 70 s, resumed for 50 s
    times = timing.StageTimes()
    times.stages["train a/seed_0"] = {"wall": wall, "trace": 0.0, "compile": 0.0, "cache_hits": 0}
    times.close()
    timing.write(path, times)
  assert jsonio.read_json(path)["train a/seed_0"]["wall"] == 120.0


def test_each_stage_is_on_disk_when_it_ends_so_a_killed_process_keeps_the_stages_it_finished(tmp_path):
  path = os.path.join(tmp_path, "timings.json")
  times = timing.StageTimes(path)
  with times.stage("train a/seed_0"):
    pass
  try:
    with times.stage("curvature a/seed_0"):
      with times.stage("inner"):  # a nested stage is written with its outermost stage
        assert not os.path.exists(path) or "inner" not in jsonio.read_json(path)
      on_disk = jsonio.read_json(path)  # the process killed here keeps the finished stage
      raise RuntimeError("stage failed")
  except RuntimeError:
    pass
  times.close()
  assert list(on_disk) == ["train a/seed_0"]
  assert set(jsonio.read_json(path)) == {"train a/seed_0", "curvature a/seed_0", "inner"}  # a failing stage too
  timing.write(path, times)  # the end-of-call write adds nothing already written
  assert jsonio.read_json(path) == times.as_dict()


def test_stages_overlapping_on_threads_split_the_block_wall_by_their_thread_seconds(tmp_path):
  """Training and measurement on two threads at once: each stage's wall is its share of the block's wall in
  proportion to its thread-seconds (recorded as `busy`), so the stages sum to the block's wall; a compilation is
  the stage's of the thread it happened on."""
  import threading  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  from jax import monitoring  # pylint: disable=g-import-not-at-top
  path = os.path.join(tmp_path, "timings.json")
  times = timing.StageTimes(path)

  def work(*parts):
    for name, seconds, compiled in parts:
      with times.part(name):
        monitoring.record_event_duration_secs("/jax/core/compile/backend_compile_duration", compiled)
        time.sleep(seconds)
  t0 = time.time()
  with times.overlapped():
    threads = [threading.Thread(target=work, args=(("train 2 runs", 0.6, 3.0),)),
               threading.Thread(target=work, args=(("train 2 runs", 0.2, 1.0), ("curvature 2 runs", 0.4, 5.0)))]
    for th in threads:
      th.start()
    for th in threads:
      th.join()
  wall = time.time() - t0
  times.close()
  got = jsonio.read_json(path)  # on disk when the block ends
  assert sorted(got) == ["curvature 2 runs", "train 2 runs"]
  assert got["train 2 runs"]["compile"] == 4.0 and got["curvature 2 runs"]["compile"] == 5.0
  assert abs(got["train 2 runs"]["busy"] - 0.8) < 0.1 and abs(got["curvature 2 runs"]["busy"] - 0.4) < 0.1
  assert abs(sum(e["wall"] for e in got.values()) - wall) < 0.05  # the stages share the block's wall, no more
  shares = {k: e["wall"] / e["busy"] for k, e in got.items()}
  assert abs(shares["train 2 runs"] - shares["curvature 2 runs"]) < 1e-9  # in proportion to thread-seconds
