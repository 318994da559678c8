"""Records exact and checked: every step once in metrics.jsonl and TensorBoard across restarts, damaged lines
reported and kept, checksums that name the corrupt file, and a reader that reports instead of hiding."""
import json
import os
import shutil

import numpy as np
import pytest

from flatness_jax.rundir import integrity, jsonio, layout, lock, metrics, pair_losses, reader, tensorboard


def _write_rows(workdir, steps, keep_through=-1):
  w = metrics.MetricWriter(str(workdir), keep_through=keep_through)
  for s in steps:
    w.write(s, {"train_loss": float(s)})
  w.close()
  return w


def _steps(workdir):
  return [json.loads(l)["step"] for l in open(os.path.join(workdir, layout.METRICS)) if l.strip()]


def test_restarts_record_every_step_once_in_metrics_and_tensorboard(tmp_path):
  _write_rows(tmp_path, [0, 1, 2, 4, 8])                  # killed after step 8's row; checkpoint 4 survived
  _write_rows(tmp_path, [8, 12], keep_through=4)           # resumed from 4: 8 again, then 12
  _write_rows(tmp_path, [0, 1], keep_through=-1)           # a fresh start (checkpoint 0 never written)
  assert _steps(tmp_path) == [0, 1]
  _write_rows(tmp_path, [2, 4], keep_through=1)
  scalars = tensorboard.read_scalars(os.path.join(tmp_path, layout.TENSORBOARD))
  assert _steps(tmp_path) == [0, 1, 2, 4] == sorted(s for s, t, _ in scalars if t == "train_loss")
  assert integrity.verify(os.path.join(tmp_path, layout.METRICS))


def test_a_torn_last_line_is_reported_then_dropped_with_its_step(tmp_path):
  _write_rows(tmp_path, [0, 1, 2])
  with open(os.path.join(tmp_path, layout.METRICS), "ab") as f:
    f.write(b'{"step": 3, "train_lo')                        # a writer killed mid-row
  problems = []
  assert [r["step"] for r in jsonio.read_jsonl(os.path.join(tmp_path, layout.METRICS), problems)] == [0, 1, 2]
  assert problems == ["metrics.jsonl line 4 is a torn last line: 21 bytes that are not a JSON row"]
  w = _write_rows(tmp_path, [3], keep_through=2)
  assert _steps(tmp_path) == [0, 1, 2, 3] and w.dropped == [
      "metrics.jsonl line 4 (21 bytes, not a JSON row) after the rows kept"]


def test_a_damaged_line_inside_the_kept_rows_is_kept_and_reported_not_dropped(tmp_path):
  path = os.path.join(tmp_path, layout.METRICS)
  with open(path, "w") as f:
    f.write('{"step": 0}\n{"step": 1, "gap": 0.\n{"step": 2, "gap": 0.1}\n{"step": 3}\n')
  _write_rows(tmp_path, [3], keep_through=2)
  lines = open(path).read().splitlines()
  assert lines[1] == '{"step": 1, "gap": 0.' and _steps_parsed(path) == [0, 2, 3]
  problems = []
  reader.read_evaluations(str(tmp_path), problems)
  assert problems == ["metrics.jsonl line 2 is damaged: 21 bytes that are not a JSON row"]


def test_a_line_damaged_after_it_was_written_is_reported_and_the_run_goes_on_with_every_other_row(tmp_path):
  """metrics.jsonl no longer matches its checksum (line 3 cut short by hand): the reader keeps every row that
  parses and names both problems; a resumed writer moves the damaged file aside (never deleting it) and goes on
  with its rows, the damaged line kept where it was."""
  path = os.path.join(tmp_path, layout.METRICS)
  _write_rows(tmp_path, [0, 1, 2, 3, 4])
  written = os.path.getsize(path)
  lines = open(path, "rb").read().splitlines(True)
  lines[2] = lines[2][:12] + b"\n"
  damaged = b"".join(lines)
  open(path, "wb").write(damaged)
  problems = []
  assert [r["step"] for r in jsonio.read_jsonl(path, problems)] == [0, 1, 3, 4]
  assert problems[0].startswith(f"{path} is corrupt: ") and problems[1:] == [
      "metrics.jsonl line 3 is damaged: 12 bytes that are not a JSON row"], problems
  w = _write_rows(tmp_path, [5], keep_through=4)
  moved = os.path.join(tmp_path, "metrics.corrupt_0.jsonl")
  assert open(moved, "rb").read() == damaged
  assert w.moved == [f"{path} is corrupt: {len(damaged)} bytes where {written} were written; moved aside to "
                     f"{moved}, its rows kept"], w.moved
  assert open(path, "rb").read().splitlines(True)[:5] == lines and _steps_parsed(path) == [0, 1, 3, 4, 5]
  assert integrity.verify(path)


def _steps_parsed(path):
  return [r["step"] for r in jsonio.read_jsonl(path)]


def test_tensorboard_drops_later_steps_and_a_torn_record(tmp_path):
  logdir = str(tmp_path / "tb")
  w = tensorboard.SummaryWriter(logdir)
  for s in (0, 5, 10):
    w.scalars(s, {"loss": float(s)})
  w.close()
  with open(w.path, "ab") as f:
    f.write(tensorboard.encode_record(tensorboard.encode_event(0.0, 15, {"loss": 15.0}))[:-3])  # torn
  assert [s for s, _, _ in tensorboard.read_scalars(logdir)] == [0, 5, 10]
  tensorboard.SummaryWriter(logdir, keep_through=5).close()
  assert [(s, t, v) for s, t, v in tensorboard.read_scalars(logdir)] == [(0, "loss", 0.0), (5, "loss", 5.0)]
  assert not [n for n in os.listdir(logdir) if n.startswith(".tmp_")]


def test_a_json_record_that_changed_is_named_as_corrupt(tmp_path):
  path = str(tmp_path / "summary.json")
  jsonio.write_json_atomic(path, {"num_params": 14342})
  assert jsonio.read_json(path) == {"num_params": 14342}
  text = open(path).read()
  with open(path, "w") as f:
    f.write(text.replace("14342", "14343"))
  with pytest.raises(integrity.CorruptFileError, match=f"{path} is corrupt: its bytes changed since they were written"):
    jsonio.read_json(path)
  with open(path, "w") as f:
    f.write('{"num_params": 1')
  os.remove(tmp_path / integrity.MANIFEST)
  with pytest.raises(integrity.CorruptFileError, match=rf"{path} is not valid JSON \(line 1, column 17\)"):
    jsonio.read_json(path)


def test_a_truncated_pair_loss_file_is_named_and_moved_aside_never_deleted(tmp_path):
  wd = str(tmp_path)
  pair_losses.record(wd, 0, np.ones(4), np.zeros(4), "d")
  path = os.path.join(wd, pair_losses.FILE)
  data = open(path, "rb").read()
  for cut in (data[: len(data) // 2], data[:10]):
    with open(path, "wb") as f:
      f.write(cut)
    with pytest.raises(integrity.CorruptFileError, match=f"{path}"):
      pair_losses.load(wd)
  moved = pair_losses.move_aside(wd)
  assert open(moved, "rb").read() == data[:10] and pair_losses.load(wd) is None
  pair_losses.record(wd, 0, np.ones(4), np.zeros(4), "d")  # the run goes on with a new file
  assert pair_losses.load(wd).steps.tolist() == [0]


def _run_dir(root, name="run"):
  d = os.path.join(root, name)
  os.makedirs(d)
  jsonio.write_json_atomic(os.path.join(d, layout.CONFIG), {"data": {"kind": "pcfg"}, "arm": "a"})
  with open(os.path.join(d, layout.METRICS), "w") as f:
    f.write('{"step": 0, "gap": 0.1, "gap_relative": 0.1}\n{"step": 1, "ga')
  return d


def test_the_reader_reports_missing_damaged_and_in_progress_instead_of_zeros_or_errors(tmp_path):
  d = _run_dir(str(tmp_path))
  jsonio.write_json_atomic(os.path.join(d, layout.CURVATURE), {"steps": {}})
  with open(os.path.join(d, layout.CURVATURE), "a") as f:
    f.write(" ")
  with lock.writer_lock(d):
    held_here = reader.read_run(d)
  assert not held_here.in_progress  # this process is the writer: not "another" one
  run = reader.read_run(d)
  assert run.missing == (layout.SUMMARY, layout.PROBES) and run.summary is None and run.num_params == 0
  assert list(run.evaluations) == [0] and not run.in_progress
  assert run.problems == ("metrics.jsonl line 2 is a torn last line: 15 bytes that are not a JSON row",
                          f"{d}/curvature.json is corrupt: 19 bytes where 18 were written")


def test_the_reader_names_what_a_run_moved_aside_as_corrupt(tmp_path):
  d = _run_dir(str(tmp_path))
  assert not any("moved aside" in p for p in reader.read_run(d).problems)
  os.makedirs(os.path.join(d, "corrupt_40"))
  open(os.path.join(d, "metrics.corrupt_0.jsonl"), "w").close()
  assert reader.read_run(d).problems[0] == ("moved aside as corrupt (kept, not read): corrupt_40, "
                                            "metrics.corrupt_0.jsonl")


def test_the_reader_says_when_another_process_writes_the_run(tmp_path):
  from tests.rundir.test_lock import _holder  # pylint: disable=g-import-not-at-top
  d = _run_dir(str(tmp_path))
  proc = _holder(d)
  try:
    run = reader.read_run(d)
    assert run.in_progress and run.writer == f"pid {proc.pid} on {os.uname().nodename}"
  finally:
    proc.kill()
    proc.wait()
  assert not reader.read_run(d).in_progress


def test_another_tools_directory_is_named_not_a_run(tmp_path):
  d = tmp_path / "hf"
  d.mkdir()
  (d / "config.json").write_text('{"model_type": "opt"}')
  with pytest.raises(FileNotFoundError, match="is not a run directory: its config.json has no data section"):
    reader.read_run(str(d))


def test_temporaries_of_killed_writes_are_removed_and_records_kept(tmp_path):
  d = _run_dir(str(tmp_path))
  os.makedirs(os.path.join(d, "tensorboard"))
  for p in (os.path.join(d, ".tmp_abc.json"), os.path.join(d, "tensorboard", ".tmp_x.tmp")):
    open(p, "w").close()
  kept = sorted(os.listdir(d))
  assert len(integrity.remove_temporaries(d)) == 2
  assert sorted(os.listdir(d)) == [n for n in kept if not n.startswith(".tmp_")]
  shutil.rmtree(d)


def test_pair_losses_truncate_keeps_the_resumed_checkpoints_own_step(tmp_path):
  """A run resumed from step 10's checkpoint re-evaluates 20 and later, so truncate(10) drops only those."""
  wd = str(tmp_path)
  rows = {s: np.full(3, s, np.float32) + np.arange(3) for s in (0, 10, 20, 30)}
  for s, l in rows.items():
    pair_losses.record(wd, s, l, np.zeros(3), "d")
  pair_losses.truncate(wd, 10)
  p = pair_losses.load(wd)
  assert p.steps.tolist() == [0, 10]
  np.testing.assert_array_equal(p.losses, np.stack([rows[0], rows[10]]))
  pair_losses.truncate(wd, 10)  # nothing after 10 left: unchanged
  pair_losses.truncate(wd, 5)
  assert pair_losses.load(wd).steps.tolist() == [0]


def test_pair_losses_record_in_step_order_replacing_a_step_and_never_mixing_pair_sets(tmp_path):
  wd = str(tmp_path)
  pair_losses.record(wd, 20, np.full(3, 2.0), np.zeros(3), "d")
  pair_losses.record(wd, 10, np.full(3, 1.0), np.zeros(3), "d")
  pair_losses.record(wd, 20, np.full(3, 5.0), np.zeros(3), "d")  # re-evaluated after a resume: replaced
  p = pair_losses.load(wd)
  assert p.steps.tolist() == [10, 20] and p.losses[:, 0].tolist() == [1.0, 5.0] and p.at(20)[0] == 5.0
  # Other held-out pairs (another digest, or another count): their losses are not comparable with these, so the
  # file starts again with the new pairs rather than appending to the old ones.
  pair_losses.record(wd, 30, np.full(3, 7.0), np.ones(3), "other")
  p = pair_losses.load(wd)
  assert (p.digest, p.steps.tolist(), p.losses.tolist(), p.optimal.tolist()) == ("other", [30], [[7.0] * 3], [1.0] * 3)
  pair_losses.record(wd, 40, np.full(4, 8.0), np.ones(4), "other")
  p = pair_losses.load(wd)
  assert p.steps.tolist() == [40] and p.losses.shape == (1, 4)


def test_pair_loss_files_moved_aside_take_the_first_free_name_and_keep_their_bytes(tmp_path):
  wd = str(tmp_path)
  contents = []
  for k in range(3):
    pair_losses.record(wd, k, np.full(2, float(k)), np.zeros(2), "d")
    contents.append(open(os.path.join(wd, pair_losses.FILE), "rb").read())
    assert pair_losses.move_aside(wd) == os.path.join(wd, f"heldout_losses.corrupt_{k}.npz")
  assert [open(os.path.join(wd, f"heldout_losses.corrupt_{k}.npz"), "rb").read() for k in range(3)] == contents
  assert not os.path.exists(os.path.join(wd, pair_losses.FILE))


def test_a_recorded_estimate_without_an_interval_gets_students_t_on_cost_minus_one_dof():
  from scipy import stats as sps  # pylint: disable=g-import-not-at-top
  from flatness_jax.rundir import records  # pylint: disable=g-import-not-at-top
  e = records.Estimate.from_json({"value": 10.0, "stderr": 2.0, "matvecs": 5})
  q = sps.t.ppf(0.975, 4)
  assert e.dof == 4 and e.ci95 == (pytest.approx(10.0 - 2 * q), pytest.approx(10.0 + 2 * q))
  assert records.t_interval(1.0, 0.5, 7, level=0.9) == (pytest.approx(1.0 - 0.5 * sps.t.ppf(0.95, 7)),
                                                         pytest.approx(1.0 + 0.5 * sps.t.ppf(0.95, 7)))
  assert records.Estimate(1.0, 0.5).ci95 == (pytest.approx(1.0 - 0.5 * sps.norm.ppf(0.975)),
                                             pytest.approx(1.0 + 0.5 * sps.norm.ppf(0.975)))
  g = records.Estimate.from_json({"value": 3.0, "stderr": 0.1, "gradients": 64, "ci95": [2.0, 4.0]})
  assert (g.unit, g.cost, g.dof, g.ci95) == ("gradients", 64, 63, (2.0, 4.0))  # a reported interval is kept
  again = records.Estimate.from_json(g.to_json())
  assert (again.value, again.stderr, again.dof, again.cost, again.unit, again.ci95) == (3.0, 0.1, 63, 64,
                                                                                        "gradients", (2.0, 4.0))
  assert records.Estimate.from_json({"value": 1.0, "stderr": 0.1}).dof == float("inf")


def test_a_checksummed_file_may_grow_only_when_recorded_append_only(tmp_path):
  plain, log = str(tmp_path / "a.json"), str(tmp_path / "m.jsonl")
  assert integrity.verify(plain) is False  # no entry: unchecked, not corrupt
  for path in (plain, log):
    with open(path, "w") as f:
      f.write("0123456789\n")
  integrity.record(plain)
  integrity.record(log, append=True)
  assert integrity.verify(plain) and integrity.verify(log)
  for path in (plain, log):
    with open(path, "a") as f:
      f.write("more\n")
  assert integrity.verify(log)  # rows appended after the recorded prefix
  with pytest.raises(integrity.CorruptFileError, match="16 bytes where 11 were written"):
    integrity.verify(plain)
  with open(log, "r+") as f:
    f.write("X")  # a changed byte inside the recorded prefix
  with pytest.raises(integrity.CorruptFileError, match="bytes changed"):
    integrity.verify(log)


def test_the_pairs_digest_is_stable_and_tells_dtype_shape_and_values_apart():
  """heldout_losses.npz stores this digest and a resumed run compares it with its own: a digest that changed between
  versions would make every resumed run drop the losses it recorded (record() starts a new pair set)."""
  x, y = np.arange(4, dtype=np.int64), np.array([0.5, 1.5], np.float32)
  assert pair_losses.digest(x, y) == "c0aa10d2a8534a406fb23264"
  others = {pair_losses.digest(x.astype(np.int32), y), pair_losses.digest(x.reshape(2, 2), y),
            pair_losses.digest(x + 1, y), pair_losses.digest(y, x), pair_losses.digest(x)}
  assert len(others) == 5 and pair_losses.digest(x, y) not in others


def test_pair_losses_truncate_leaves_a_run_without_later_steps_or_without_the_file_untouched(tmp_path):
  wd = str(tmp_path)
  pair_losses.truncate(wd, 10)  # no file: nothing to do, nothing created
  assert not os.path.exists(os.path.join(wd, pair_losses.FILE))
  for s in (0, 10):
    pair_losses.record(wd, s, np.full(2, float(s)), np.zeros(2), "d")
  before = os.stat(os.path.join(wd, pair_losses.FILE))
  pair_losses.truncate(wd, 10)  # nothing after step 10: the file is not rewritten
  after = os.stat(os.path.join(wd, pair_losses.FILE))
  assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
