"""Bad input stops the entry point with one line and exit status 2; --traceback and unexpected errors keep the
traceback."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments import errors
from tests.conftest import REPO_ROOT


def _main(*args, timeout=300):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "experiments.main", *args], cwd=REPO_ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


def _one_line(proc):
  assert proc.returncode == errors.EXIT_BAD_INPUT, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
  return proc.stderr.strip().splitlines()[-1]


def test_bad_grammar_file_is_one_line(tmp_path):
  bad = tmp_path / "bad.txt"
  bad.write_text("S A 1.0\nA a b c d 0.5\n")
  proc = _main("--config=configs/data_card.py", "--config.data.preset=file", f"--config.data.grammar_path={bad}",
               f"--workdir={tmp_path / 'card'}")
  line = _one_line(proc)
  assert line.startswith("error: ") and f"{bad}:2" in line and "arity" in line, line


def test_bad_config_value_is_one_line(tmp_path):
  proc = _main("--config=configs/tiny.py", "--config.optimizer.name=adagrad", f"--workdir={tmp_path / 'run'}")
  line = _one_line(proc)
  assert line.startswith("error: optimizer.name='adagrad' is unknown"), line


def test_traceback_flag_keeps_the_traceback(tmp_path):
  proc = _main("--config=configs/tiny.py", "--config.optimizer.name=adagrad", f"--workdir={tmp_path / 'run'}",
               "--traceback")
  assert proc.returncode not in (0, errors.EXIT_BAD_INPUT) and "Traceback" in proc.stderr
  assert "optimizer.name='adagrad'" in proc.stderr


def test_errors_raised_inside_libraries_are_not_bad_input(capsys):
  from flatness_jax.data import make_language  # pylint: disable=g-import-not-at-top
  with pytest.raises(SystemExit) as exit_info:  # our own check: one line
    with errors.one_line():
      make_language({"kind": "nope"})
  assert exit_info.value.code == errors.EXIT_BAD_INPUT
  assert capsys.readouterr().err == "error: unknown data.kind='nope'; known kinds: ['hmm', 'lm', 'pcfg']\n"
  import numpy as np  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError):  # numpy's own ValueError: a bug, not bad input, so the traceback stays
    with errors.one_line():
      np.zeros(3).reshape(2, 2)
  with pytest.raises(KeyError):
    with errors.one_line():
      raise KeyError("unexpected")


def test_message_folds_newlines():
  assert errors.message(RuntimeError("no readable checkpoint:\n  step 4: bad")) == \
      "error: no readable checkpoint: step 4: bad"


# ------------------------------------------------------------------------------------------------------------------
# Every bad input answers in one line of at most ~200 characters (besides the paths it names), exit status 2.

def _flag_errors(argvs):
  """(exit status, stderr) of `python -m experiments.main ARGV` for each argv (started together: flag errors come
  before any work)."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  procs = [subprocess.Popen([sys.executable, "-m", "experiments.main", *argv], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for argv in argvs]
  outs = [p.communicate(timeout=300)[1] for p in procs]
  return [(p.returncode, err) for p, err in zip(procs, outs)]


def _short(line, *paths):
  assert "\n" not in line.strip() and line.startswith("error: "), line
  assert len(line.strip()) - sum(len(p) for p in paths) <= 200, line


def test_config_flag_errors_are_one_line(tmp_path):
  broken = tmp_path / "broken.py"
  broken.write_text("def get_config(:\n")
  cases = {"--config.model.foo=1": "error: --config.model.foo: the config has no field 'foo'",
           "configs/nope.py": "error: --config=configs/nope.py: no such config file (looked in the current "
                              "directory and in experiments/)",
           str(broken): f"error: {broken}:1: invalid syntax (the config file does not parse)",
           "configs/pcfg.py:nope": "error: configs/pcfg.py:nope: unknown word 'nope'; accepted: released | paper "
                                   "(variant), tiny",
           "--config.train.num_steps=1.5": "error: flag --config.train.num_steps=1.5: invalid literal for int() "
                                           "with base 10: '1.5'"}
  argvs = [[f"--config={c}"] if not c.startswith("--") else ["--config=configs/tiny.py", c] for c in cases]
  for (code, err), expected in zip(_flag_errors([a + [f"--workdir={tmp_path}/w"] for a in argvs]), cases.values()):
    assert code == errors.EXIT_BAD_INPUT and err.strip().splitlines()[-1] == expected, (code, err)
    assert "Traceback" not in err
    _short(expected, str(broken))
  assert not os.path.exists(tmp_path / "w")


def test_an_unknown_config_field_exits_2_in_one_line_and_traceback_keeps_the_stack(tmp_path):
  proc = _main("--config=configs/tiny.py", "--config.optimizer.learnin_rate=1", f"--workdir={tmp_path / 'run'}")
  assert _one_line(proc) == ("error: --config.optimizer.learnin_rate: the config has no field 'learnin_rate' (did "
                             "you mean 'learning_rate'?)")
  proc = _main("--config=configs/tiny.py", "--config.model.foo=1", f"--workdir={tmp_path / 'run'}", "--traceback")
  assert proc.returncode != errors.EXIT_BAD_INPUT and "Traceback" in proc.stderr and "'foo'" in proc.stderr
  assert not os.path.exists(tmp_path / "run")


def _job_line(capsys, config, workdir):
  """The job's stderr line under errors.one_line (what experiments.main does), asserting exit status 2."""
  from flatness_jax import jobs  # pylint: disable=g-import-not-at-top
  with pytest.raises(SystemExit) as info:
    with errors.one_line():
      jobs.run(config, str(workdir))
  assert info.value.code == errors.EXIT_BAD_INPUT
  err = capsys.readouterr().err
  assert "Traceback" not in err, err
  return err.strip().splitlines()[-1]  # (a progress bar may come before it)


@pytest.mark.parametrize("kind", ["binary", "directory"])
def test_a_grammar_that_is_not_a_text_file_is_one_line(tmp_path, capsys, kind):
  from experiments.configs import data_card  # pylint: disable=g-import-not-at-top
  path = tmp_path / "grammar"
  if kind == "binary":
    path.write_bytes(bytes(range(256)))
  else:
    path.mkdir()
  config = data_card.get_config()
  config.data.preset, config.data.grammar_path = "file", str(path)  # a grammar in the authors' format
  line = _job_line(capsys, config, tmp_path / "card")
  assert line.startswith(f"error: {path}: ") and ("binary" in line or "directory" in line), line
  _short(line, str(path))


@pytest.mark.parametrize("damage", ["safetensors", "config_json"])
def test_a_damaged_opt_checkpoint_is_one_line_naming_the_file(tmp_path, capsys, damage):
  pytest.importorskip("safetensors")
  from experiments.configs import data_card  # pylint: disable=g-import-not-at-top
  from flatness_jax.decoder import hf_checkpoint  # pylint: disable=g-import-not-at-top
  from flatness_jax.data import lm_config  # pylint: disable=g-import-not-at-top
  cfg = hf_checkpoint.config_from_hf(lm_config.PRESETS["tiny"]["decoder"])
  hf_checkpoint.save_opt(str(tmp_path / "opt"), cfg, jax.tree.map(np.zeros_like, hf_checkpoint.abstract_params(cfg)))
  victim = tmp_path / "opt" / ("model.safetensors" if damage == "safetensors" else "config.json")
  data = victim.read_bytes()
  victim.write_bytes(data[: len(data) // 2])
  config = data_card.get_config()
  config.data.kind, config.data.preset, config.data.checkpoint = "lm", "paper", str(tmp_path / "opt")
  config.data.num_tokens, config.data.max_length, config.data.token_ids = 3, 3, "1,2,3"
  line = _job_line(capsys, config, tmp_path / "card")
  assert line.startswith(f"error: {victim} is not ") and ("safetensors" in line or "JSON" in line), line
  _short(line, str(victim))


def test_another_tools_directory_is_one_line_and_untouched(tmp_path, capsys):
  from experiments.configs import curvature, tiny  # pylint: disable=g-import-not-at-top
  d = tmp_path / "hf_model"
  d.mkdir()
  (d / "config.json").write_text('{"model_type": "opt", "hidden_size": 8}')
  for config in (curvature.get_config(), tiny.get_config()):
    line = _job_line(capsys, config, d)
    assert line.startswith(f"error: {d} is not a run directory: its config.json has no data"), line
    _short(line, str(d))
  assert os.listdir(d) == ["config.json"]


@pytest.mark.parametrize("job", ["curvature", "probes"])
def test_a_measuring_job_checks_before_it_writes(tmp_path, capsys, job):
  """A directory that does not exist is not created, and `.git` gets no lock file: 'not a run directory' first."""
  import importlib  # pylint: disable=g-import-not-at-top
  config = importlib.import_module(f"experiments.configs.{job}").get_config()
  nowhere = tmp_path / "nowhere"
  line = _job_line(capsys, config, nowhere)
  assert line == f"error: {nowhere} is not a run directory (no config.json)", line
  assert not nowhere.exists()
  git = tmp_path / "repo" / ".git"
  git.mkdir(parents=True)
  (git / "config").write_text("[core]\n")
  line = _job_line(capsys, config, git)
  assert line == f"error: {git} is not a run directory (no config.json)", line
  assert os.listdir(git) == ["config"]


@pytest.fixture
def read_only_dir(tmp_path):
  """A directory this process cannot write to: chmod for a normal user, a read-only tmpfs for root."""
  d = tmp_path / "ro"
  d.mkdir()
  if os.geteuid() != 0:
    os.chmod(d, 0o555)
    yield d
    os.chmod(d, 0o755)
    return
  if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(d)], capture_output=True).returncode:
    pytest.skip("root without a read-only mount: cannot make a directory read-only")
  yield d
  subprocess.run(["umount", str(d)], check=True)


def test_a_read_only_directory_is_one_line(read_only_dir, capsys):
  from experiments.configs import tiny  # pylint: disable=g-import-not-at-top
  line = _job_line(capsys, tiny.get_config(), read_only_dir / "run")
  assert line.startswith(f"error: cannot write {read_only_dir}/run: ") and (
      "Read-only file system" in line or "Permission denied" in line), line
  _short(line, str(read_only_dir))


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_run_resumes_when_there_is_room(tmp_path):
  """A 600 KB tmpfs where the machine allows it (root), else a filesystem that reports no free space once checkpoint
  2 is written (tests/jobs/faults.py): both stop at a checkpoint with one line, and resume once there is room.
  Slow tier, run by .ci/run after the default tier (the default tier keeps the kill/stop fault sequence)."""
  from tests.jobs import faults  # pylint: disable=g-import-not-at-top
  d = tmp_path / "disk"
  d.mkdir()
  mounted = os.geteuid() == 0 and not subprocess.run(
      ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(d)], capture_output=True).returncode
  try:
    proc = faults.main(str(d / "run"), fault=("none", 0, "") if mounted else ("no_space", 2, ""))
    line = _one_line(proc)
    assert line.startswith(f"error: cannot write {d}/run/checkpoints/") and "No space left on device" in line, line
    _short(line, str(d))
    if mounted:
      subprocess.run(["mount", "-o", "remount,size=20m", str(d)], check=True)
    proc = faults.main(str(d / "run"))
    assert proc.returncode == 0 and "resuming" in proc.stderr, proc.stderr[-3000:]
  finally:
    if mounted:
      subprocess.run(["umount", str(d)], check=True)


def test_a_long_library_error_is_cut_to_one_short_line(tmp_path, capsys):
  from experiments.configs import curvature, tiny  # pylint: disable=g-import-not-at-top
  from tests.run_dirs import initial_run_dir  # pylint: disable=g-import-not-at-top
  wd, _ = initial_run_dir(tmp_path / "run", tiny.get_config())
  step_dir = os.path.join(wd, "checkpoints", "0")
  os.remove(os.path.join(step_dir, "checksums.json"))  # a checkpoint from before checksums: read to find out
  for root, _, files in os.walk(os.path.join(step_dir, "default")):
    for f in files:
      if "ocdbt" in root or f == "manifest.ocdbt":
        with open(os.path.join(root, f), "r+b") as fh:
          fh.truncate(3)
  line = _job_line(capsys, curvature.get_config(), wd)
  assert line.startswith(f"error: checkpoint {step_dir}/default could not be read: "), line
  _short(line, step_dir + "/default")
