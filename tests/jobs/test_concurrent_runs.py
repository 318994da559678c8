"""Runs trained at once (parallel.concurrent_runs): the same bytes as one at a time, prerequisites first, and one
failure stops the rest at a checkpoint and is the error raised."""
import json
import os
import threading
import time

import jax
import numpy as np
import pytest

from flatness_jax.jobs import concurrent_runs, pipeline
from flatness_jax.train import arms, loop


def _until_stopped(log, name, stop):
  """A task that trains until asked to stop, then stops as the loop does."""
  log.append(f"start {name}")
  for _ in range(500):
    if stop.reason is not None:
      log.append(f"stopped {name}")
      raise loop.Stopped(1, stop.reason)
    time.sleep(0.01)
  log.append(f"end {name}")
  return name


def test_results_come_in_task_order_and_a_task_starts_after_those_it_waits_for():
  log, lock = [], threading.Lock()

  def task(name, seconds):
    def fn(_):
      with lock:
        log.append(f"start {name}")
      time.sleep(seconds)
      with lock:
        log.append(f"end {name}")
      return name
    return fn

  tasks = [concurrent_runs.Task("a", task("a", 0.3)), concurrent_runs.Task("b", task("b", 0.01)),
           concurrent_runs.Task("c", task("c", 0.01), after=(0,)), concurrent_runs.Task("d", task("d", 0.01))]
  assert concurrent_runs.run_all(tasks, 2, loop.StopRequest()) == ["a", "b", "c", "d"]
  assert log.index("start c") > log.index("end a")
  assert log.index("start d") < log.index("end a")  # d (no prerequisite) went ahead of the waiting c
  assert log[:2] == ["start a", "start b"]  # two at once


def test_a_failure_stops_the_runs_beside_it_and_is_the_error_raised():
  log, stop = [], loop.StopRequest()

  def fails(_):
    time.sleep(0.05)
    raise FloatingPointError("loss is nan at step 7")

  tasks = [concurrent_runs.Task("ok", lambda s: _until_stopped(log, "ok", s)), concurrent_runs.Task("bad", fails),
           concurrent_runs.Task("later", lambda s: _until_stopped(log, "later", s))]
  with pytest.raises(FloatingPointError, match="step 7"):
    concurrent_runs.run_all(tasks, 2, stop)
  assert stop.reason == concurrent_runs.ERROR_STOP
  assert log == ["start ok", "stopped ok"]  # the running one stopped; the next one never started


def test_a_stop_request_stops_every_run_and_raises_stopped():
  log, stop = [], loop.StopRequest()
  tasks = [concurrent_runs.Task(n, lambda s, n=n: _until_stopped(log, n, s)) for n in ("a", "b", "c")]
  threading.Timer(0.1, stop.request, args=("SIGTERM",)).start()
  with pytest.raises(loop.Stopped, match="SIGTERM"):
    concurrent_runs.run_all(tasks, 2, stop)
  assert sorted(log) == ["start a", "start b", "stopped a", "stopped b"]


def test_a_signal_a_run_thread_receives_stops_every_run_within_a_chunk():
  """A process-directed signal may be taken by any thread (a worker, XLA's): its Python handler runs in the main
  thread only once that thread runs bytecode, so a main thread blocked in join() until a run ends (minutes) would
  leave a preemption's SIGTERM unanswered until then. Here the signal goes to the run's own thread."""
  import signal  # pylint: disable=g-import-not-at-top
  from flatness_jax.jobs import train as train_job  # pylint: disable=g-import-not-at-top
  log, stop, threads = [], loop.StopRequest(), []

  def fn(s):
    threads.append(threading.get_ident())
    return _until_stopped(log, "a", s)  # ~5 s unless stopped

  def send():
    while not threads:  # the run has started
      time.sleep(0.01)
    signal.pthread_kill(threads[0], signal.SIGTERM)

  timer = threading.Timer(0.3, send)
  start = time.monotonic()
  with train_job.stop_on_signals(stop):
    timer.start()
    with pytest.raises(loop.Stopped, match="SIGTERM"):
      concurrent_runs.run_all([concurrent_runs.Task("a", fn)], 2, stop)
  assert log == ["start a", "stopped a"] and time.monotonic() - start < 2.5


def test_a_task_can_wait_only_for_an_earlier_one():
  with pytest.raises(ValueError, match="only earlier tasks"):
    concurrent_runs.run_all([concurrent_runs.Task("a", lambda s: 1, after=(0,))], 2, loop.StopRequest())


def _tiny_config(n: int, stages: str = "train"):
  from experiments.configs import quickstart  # pylint: disable=g-import-not-at-top
  config = quickstart.get_config("tiny,seeds=2")
  config.stages = stages
  config.parallel.concurrent_runs = n
  return config


def test_workers_are_the_runs_asked_for_on_one_device_of_one_process():
  config = _tiny_config(3)
  assert concurrent_runs.workers(config, 2) == (2, "") and concurrent_runs.workers(config, 5) == (3, "")
  assert concurrent_runs.workers(_tiny_config(1), 5) == (1, "")
  config.parallel.concurrent_runs = 0
  with pytest.raises(ValueError, match=r"parallel\.concurrent_runs=0 must be a positive integer"):
    arms.run_configs(config)


def test_several_devices_train_one_run_at_a_time_and_say_why():
  from tests.conftest import run_python  # pylint: disable=g-import-not-at-top
  out = run_python("""
      import ml_collections
      from flatness_jax.jobs import concurrent_runs
      config = ml_collections.ConfigDict({"parallel": {"concurrent_runs": 2}})
      print(concurrent_runs.workers(config, 3))
  """, devices=2, timeout=120).stdout
  assert "(1, '2 devices: one run at a time')" in out


def test_an_adversarial_run_waits_for_the_same_seed_of_its_reference_arm():
  from experiments.configs import algorithms  # pylint: disable=g-import-not-at-top
  runs = arms.run_configs(algorithms.get_config("pcfg,adversarial,tiny,seeds=2"))
  groups = pipeline._training_groups(runs)  # pylint: disable=protected-access
  waits = pipeline._prerequisites(runs, groups, "runs/x")  # pylint: disable=protected-access
  after = dict(zip([g[0] for g in groups], waits))
  index = {g[0]: i for i, g in enumerate(groups)}
  assert after["adversarial/seed_0"] == (index["adamw/seed_0"],)
  assert after["adversarial/seed_1"] == (index["adamw/seed_1"],)
  assert all(not a for name, a in after.items() if not name.startswith("adversarial"))


def _record(workdir: str, name: str):
  from flatness_jax.rundir import rundir  # pylint: disable=g-import-not-at-top
  run = rundir.RunDir(os.path.join(workdir, name))
  rows = [json.loads(line) for line in open(os.path.join(workdir, name, "metrics.jsonl"))]
  untimed = [{k: v for k, v in r.items() if k not in ("wall_seconds", "tokens_per_second")} for r in rows]
  return run.params(run.steps()[-1]), untimed


def _untimed(doc):
  """A curvature.json or probes.json document without its seconds (how long each measurement took)."""
  if isinstance(doc, dict):
    return {k: _untimed(v) for k, v in doc.items() if k != "seconds"}
  return [_untimed(v) for v in doc] if isinstance(doc, list) else doc


@pytest.mark.slow  # four tiny pipelines; the README's command runs the quickstart's two runs at once end to end
def test_runs_trained_and_measured_at_once_record_the_same_bytes_as_one_at_a_time(tmp_path, capsys):
  one, two = str(tmp_path / "one"), str(tmp_path / "two")
  configs = [_tiny_config(n, "train,curvature,probes") for n in (1, 2)]
  for c in configs:
    c.curvature.steps = c.probes.steps = "last:1"  # one checkpoint measured per run: as telling, half the time
  pipeline.run_quickstart(configs[0], one)
  pipeline.run_quickstart(configs[1], two)
  names = list(arms.run_configs(_tiny_config(1)))
  assert len(names) >= 2
  for name in names:
    (p1, rows1), (p2, rows2) = _record(one, name), _record(two, name)
    jax.tree.map(np.testing.assert_array_equal, p1, p2)
    assert rows1 == rows2
    for measured in ("curvature.json", "probes.json"):
      docs = [_untimed(json.load(open(os.path.join(d, name, measured)))) for d in (one, two)]
      assert docs[0] == docs[1] and docs[0]["steps"], (name, measured)
  stages = sorted(json.load(open(os.path.join(two, pipeline.TIMINGS))))
  assert stages == [f"{kind} {len(names)} runs, 2 at a time" for kind in ("curvature", "probes", "train")]
  out = capsys.readouterr().out
  assert all(f"{name}: step " in out for name in names)  # lines printed at once name their run
  # A rerun measures only what is missing: one run left is measured alone, to the same record.
  lost = os.path.join(two, names[-1], "curvature.json")
  kept = _untimed(json.load(open(lost)))
  os.remove(lost)
  configs[1].stages = "curvature"
  pipeline.run_quickstart(configs[1], two)
  assert _untimed(json.load(open(lost))) == kept
  assert f"curvature {names[-1]}" in json.load(open(os.path.join(two, pipeline.TIMINGS)))


def test_a_run_is_measured_after_the_first_run_of_its_architecture():
  from experiments.configs import model_size  # pylint: disable=g-import-not-at-top
  runs = arms.run_configs(model_size.get_config("pcfg,tiny,seeds=2"))
  names = list(runs)
  after = dict(zip(names, pipeline._first_of_architecture(runs, names)))  # pylint: disable=protected-access
  firsts = [n for n in names if not after[n]]
  assert len(firsts) == len({n.split("/")[0] for n in names}) >= 2  # one first run per size, measured at once
  for name, waits in after.items():
    if waits:
      (first,) = waits
      assert names[first].split("/")[0] == name.split("/")[0] and names.index(name) > first


@pytest.mark.slow  # two tiny algorithms experiments (8 runs each), one at a time and two at once
def test_the_adversarial_arm_at_once_tracks_its_reference_and_records_the_same_bytes(tmp_path):
  """The adversarial runs wait for the same seed of AdamW (whose gap their λ tracks) and end at the bytes of the
  one-at-a-time experiment, λ sequence included."""
  from experiments.configs import algorithms  # pylint: disable=g-import-not-at-top

  def config(n):
    c = algorithms.get_config("pcfg,adversarial,tiny,seeds=2")
    c.stages, c.parallel.concurrent_runs = "train", n
    return c

  one, two = str(tmp_path / "one"), str(tmp_path / "two")
  pipeline.run_quickstart(config(1), one)
  pipeline.run_quickstart(config(2), two)
  names = list(arms.run_configs(config(1)))
  assert "adversarial/seed_1" in names
  for name in names:
    (p1, rows1), (p2, rows2) = _record(one, name), _record(two, name)
    jax.tree.map(np.testing.assert_array_equal, p1, p2)
    assert rows1 == rows2


@pytest.mark.slow  # a subprocess pipeline stopped by SIGTERM mid-training, then resumed to the end
def test_sigterm_stops_the_runs_at_once_at_a_checkpoint_and_the_same_command_finishes_them(tmp_path):
  import signal  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from tests.conftest import REPO_ROOT  # pylint: disable=g-import-not-at-top
  wd = str(tmp_path / "qs")
  cmd = [sys.executable, "-m", "experiments.main", "--config=configs/quickstart.py:tiny,seeds=2",
         "--config.stages=train", "--config.train.num_steps=3000", f"--workdir={wd}"]
  runs = [os.path.join(wd, "cpu_tiny", f"seed_{k}", "metrics.jsonl") for k in range(2)]
  proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 300
  while time.time() < deadline and not all(os.path.exists(r) and len(open(r).readlines()) > 5 for r in runs):
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == loop.EXIT_STOPPED, err[-3000:]
  assert "cpu_tiny/seed_0 [" in err and "cpu_tiny/seed_1 [" in err  # each progress line names its run
  from flatness_jax.rundir import rundir  # pylint: disable=g-import-not-at-top
  stopped = [rundir.RunDir(os.path.dirname(r)).steps()[-1] for r in runs]
  assert all(0 < s < 3000 for s in stopped), stopped  # each checkpointed where it stopped, short of the end
  done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  for r in runs:
    steps = [json.loads(line)["step"] for line in open(r)]
    assert steps == sorted(set(steps)) and steps[-1] == 3000  # every step recorded once, to the end
