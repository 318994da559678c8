"""One writer per run directory: a second writer is refused at once, naming the directory and the holder; a lock
left by a killed process does not block the run that resumes it."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from flatness_jax.rundir import lock
from tests.conftest import REPO_ROOT

HOLD = textwrap.dedent("""
    import sys, time
    from flatness_jax.rundir import lock
    lock.acquire(sys.argv[1])
    print("locked", flush=True)
    time.sleep(120)
""")


def _holder(workdir):
  """A process that takes the lock of `workdir` and sleeps; returns it once it holds the lock."""
  env = dict(os.environ, PYTHONPATH=REPO_ROOT, JAX_PLATFORMS="cpu")
  proc = subprocess.Popen([sys.executable, "-c", HOLD, workdir], stdout=subprocess.PIPE, text=True, env=env)
  assert proc.stdout.readline().strip() == "locked"
  return proc


def test_second_writer_is_refused_with_the_holders_pid(tmp_path):
  wd = str(tmp_path / "run")
  proc = _holder(wd)
  try:
    with pytest.raises(lock.RunDirBusyError, match=rf"{wd}.*pid {proc.pid}"):
      with lock.writer_lock(wd):
        pass
  finally:
    proc.kill()
    proc.wait()


def test_lock_of_a_killed_process_does_not_block(tmp_path):
  wd = str(tmp_path / "run")
  proc = _holder(wd)
  os.kill(proc.pid, signal.SIGKILL)
  proc.wait()
  assert os.path.exists(os.path.join(wd, lock.LOCK_NAME))  # the file stays; the kernel dropped the lock
  with lock.writer_lock(wd):
    assert f"pid {os.getpid()}" in open(os.path.join(wd, lock.LOCK_NAME)).read()


def test_lock_is_reentrant_and_released(tmp_path):
  wd = str(tmp_path / "run")
  with lock.writer_lock(wd):
    with lock.writer_lock(wd):  # a pipeline holding its workdir calls a job on the same directory
      pass
    assert lock._held  # pylint: disable=protected-access  (still held by the outer block)
  assert not lock._held  # pylint: disable=protected-access
  proc = _holder(wd)  # released: another process can take it
  proc.kill()
  proc.wait()


def test_second_training_process_stops_at_once(tmp_path):
  wd = str(tmp_path / "run")
  proc = _holder(wd)
  try:
    t0 = time.time()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-m", "experiments.main", "--config=configs/tiny.py", f"--workdir={wd}"],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: run directory") and f"pid {proc.pid}" in last and wd in last, last
    assert "Traceback" not in out.stderr
    assert not os.path.exists(os.path.join(wd, "metrics.jsonl"))  # nothing trained or written
    assert time.time() - t0 < 120
  finally:
    proc.kill()
    proc.wait()


def test_a_lock_file_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path):
  wd = tmp_path / "run"
  wd.mkdir()
  target = tmp_path / "precious.txt"
  target.write_text("mine")
  os.symlink(target, wd / lock.LOCK_NAME)
  with pytest.raises(ValueError, match=r"\.writer\.lock is a symbolic link; the writer lock is never followed"):
    with lock.writer_lock(str(wd)):
      pass
  assert target.read_text() == "mine"
  assert lock.holder(str(wd)) is None


def test_holder_names_another_writer_and_creates_nothing(tmp_path):
  wd = str(tmp_path / "run")
  assert lock.holder(wd) is None and not os.path.exists(wd)
  proc = _holder(wd)
  try:
    assert lock.holder(wd) == f"pid {proc.pid} on {os.uname().nodename}"
  finally:
    proc.kill()
    proc.wait()
  assert lock.holder(wd) is None


def _slow_hostname(monkeypatch, seconds=0.2):
  """Widens the moment between taking the flock and recording the hold (the hostname is written in between)."""
  real = lock.socket.gethostname

  def slow():
    time.sleep(seconds)
    return real()
  monkeypatch.setattr(lock.socket, "gethostname", slow)


def test_threads_of_one_process_share_the_lock_when_they_ask_at_the_same_moment(tmp_path, monkeypatch):
  """Two threads of the writing process (a run's curvature and its probes measured at once) ask for one run
  directory together: both get it, it stays held until the last lets go, and then another process can take it."""
  import threading  # pylint: disable=g-import-not-at-top
  _slow_hostname(monkeypatch)
  barrier, errors = threading.Barrier(2), []

  def ask():
    barrier.wait()
    try:
      with lock.writer_lock(str(tmp_path)):
        time.sleep(0.1)
    except Exception as e:  # pylint: disable=broad-except
      errors.append(e)

  threads = [threading.Thread(target=ask) for _ in range(2)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert not errors, errors
  assert not lock._held  # pylint: disable=protected-access
  proc = _holder(str(tmp_path))  # released: another process can take it
  proc.kill()
  proc.wait()


def test_a_thread_asking_while_another_lets_go_gets_the_lock(tmp_path, monkeypatch):
  """A release drops the flock and forgets the hold as one step: a thread asking in between is not refused."""
  import threading  # pylint: disable=g-import-not-at-top
  path = lock.acquire(str(tmp_path))
  real_flock, errors, asked = lock.fcntl.flock, [], threading.Event()

  def slow_flock(fd, op):
    if op == lock.fcntl.LOCK_UN:
      asked.set()
      time.sleep(0.2)
    return real_flock(fd, op)
  monkeypatch.setattr(lock.fcntl, "flock", slow_flock)

  def ask():
    asked.wait(2.0)
    try:
      lock.release(lock.acquire(str(tmp_path)))
    except Exception as e:  # pylint: disable=broad-except
      errors.append(e)

  t = threading.Thread(target=ask)
  t.start()
  lock.release(path)
  t.join()
  assert not errors, errors
  assert not lock._held  # pylint: disable=protected-access
