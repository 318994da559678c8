"""The fault campaign of issue 28, as a table: each fault tried on two checkouts of the repository, what happened.

    python -m tests.jobs.fault_campaign --before=DIR --after=. [--only=NAME,...] > table.md
    python -m tests.jobs.fault_campaign --after=. [--only=NAME,...]   (the after column only)

DIR is another checkout (e.g. `git archive <commit> | tar -x -C DIR`). Every trial drives `python -m experiments.main`
(or a few lines of Python) inside the checkout under test and describes what it observed: exit status, the last
line of stderr (cut), and what happened to the run directory's checkpoints and records. Minutes on 2 cores; not a
test (the tests are tests/jobs/test_faults.py, test_resume.py, tests/experiments/test_errors.py and their
neighbours).
"""
import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TINY = "--config=configs/tiny.py"


def _env(repo):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=repo)
  env.setdefault("FLATNESS_COMPILATION_CACHE", os.path.join(tempfile.gettempdir(), "fault_campaign_xla"))
  return env


def main_(repo, *args, timeout=600, prefix=()):
  return subprocess.run([*prefix, sys.executable, "-m", "experiments.main", *args], cwd=repo, env=_env(repo),
                        capture_output=True, text=True, timeout=timeout)


def py(repo, code, *args):
  return subprocess.run([sys.executable, "-c", code, *args], cwd=repo, env=_env(repo), capture_output=True,
                        text=True, timeout=600)


def last(proc, n=110):
  lines = proc.stderr.strip().splitlines()
  text = lines[-1] if lines else ""
  text = text if len(text) <= n else text[:n] + "…"
  return f"exit {proc.returncode}, {len(lines)} stderr lines, last: `{text.replace('|', '/')}`"


def ckpts(wd):
  d = os.path.join(wd, "checkpoints")
  steps = sorted(int(s) for s in os.listdir(d) if s.isdigit()) if os.path.isdir(d) else []
  moved = sorted(n for n in os.listdir(wd) if n.startswith("corrupt_")) if os.path.isdir(wd) else []
  return f"checkpoints {steps}" + (f", moved aside {moved}" if moved else "")


def rows(wd):
  path = os.path.join(wd, "metrics.jsonl")
  steps = []
  for line in open(path) if os.path.exists(path) else []:
    try:
      steps.append(json.loads(line)["step"])
    except ValueError:
      steps.append("torn")
  return steps


def trained(repo, root, name="run", *flags):
  wd = os.path.join(root, name)
  proc = main_(repo, TINY, f"--workdir={wd}", *flags)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return wd


def start_and_signal(repo, wd, sig, after_step, *flags):
  """Starts a longer tiny run, sends `sig` once metrics.jsonl has a row past `after_step`; returns the process."""
  p = subprocess.Popen([sys.executable, "-m", "experiments.main", TINY, f"--workdir={wd}", *flags], cwd=repo,
                       env=_env(repo), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 300
  while time.time() < deadline and p.poll() is None:
    s = [r for r in rows(wd) if r != "torn"]
    if s and s[-1] > after_step:
      break
    time.sleep(0.05)
  p.send_signal(sig)
  out, err = p.communicate(timeout=300)
  return subprocess.CompletedProcess(p.args, p.returncode, out, err)


LONG = ["--config.train.num_steps=2000", "--config.checkpoint.every=1000", "--config.eval.every=1000"]


# ---------------------------------------------------------------------------------------------------------- trials
def t_changed_config(repo, root):
  wd = trained(repo, root)
  p = main_(repo, TINY, f"--workdir={wd}", "--config.optimizer.name=sgd")
  recorded = json.load(open(os.path.join(wd, "config.json")))["optimizer"]["name"]
  state = (ckpts(wd), open(os.path.join(wd, "metrics.jsonl"), "rb").read())
  p2 = main_(repo, TINY, f"--workdir={wd}")
  retrained = open(os.path.join(wd, "metrics.jsonl"), "rb").read() != state[1]
  return (f"{last(p)}; {state[0]}; config.json says {recorded!r}. Next plain run: exit {p2.returncode}, "
          f"{'trained again from step 0' if retrained else 'nothing retrained'}")


def t_changed_layers(repo, root):
  wd = trained(repo, root)
  p = main_(repo, TINY, f"--workdir={wd}", "--config.model.num_layers=3")
  return f"{last(p)}; {ckpts(wd)}"


def t_all_truncated(repo, root):
  wd = trained(repo, root)
  os.remove(os.path.join(wd, "summary.json"))
  for f in glob.glob(os.path.join(wd, "checkpoints", "*", "default", "**", "*"), recursive=True):
    if os.path.isfile(f):
      with open(f, "r+b") as fh:
        fh.truncate(os.path.getsize(f) // 2)
  p = main_(repo, TINY, f"--workdir={wd}")
  p2 = main_(repo, TINY, f"--workdir={wd}")
  return f"{last(p)}; {ckpts(wd)}. Next run: exit {p2.returncode}, metrics rows now {len(rows(wd))}"


def _preempt(repo, root, sig):
  wd = os.path.join(root, "run")
  p = start_and_signal(repo, wd, sig, 1100, *LONG)
  stopped = [r for r in rows(wd) if r != "torn"][-1]
  saved = ckpts(wd)
  p2 = main_(repo, TINY, f"--workdir={wd}", *LONG)
  resumed = next((l for l in p2.stderr.splitlines() if "resuming" in l), "")
  start = resumed.rsplit("step", 1)[-1].strip() if resumed else "?"
  return (f"{last(p)}; last row {stopped}; {saved}; resumed from step {start} (lost "
          f"{stopped - int(start) if start.isdigit() else '?'} steps), exit {p2.returncode}")


def t_sigterm(repo, root):
  return _preempt(repo, root, signal.SIGTERM)


def t_sigint(repo, root):
  return _preempt(repo, root, signal.SIGINT)


CORRUPT = """
import sys, jax, numpy as np, orbax.checkpoint as ocp
path = sys.argv[1]
s = jax.tree.map(np.asarray, ocp.StandardCheckpointer().restore(path))
s["opt_state"][1][0]["nu"] = jax.tree.map(lambda x: -np.abs(x) - 1, s["opt_state"][1][0]["nu"])
c = ocp.StandardCheckpointer(); c.save(path, s, force=True); c.wait_until_finished()
"""


def t_corrupt_opt_state(repo, root):
  wd = trained(repo, root)
  py(repo, CORRUPT, os.path.join(wd, "checkpoints", "40", "default"))
  p = main_(repo, TINY, f"--workdir={wd}", "--config.train.num_steps=60", "--config.optimizer.schedule_steps=40")
  if "schedule_steps" in p.stderr and p.returncode != 0:  # a checkout without the field: extend by num_steps
    p = main_(repo, TINY, f"--workdir={wd}", "--config.train.num_steps=60")
  return f"{last(p)}; {ckpts(wd)}"


def t_extend(repo, root):
  wd = trained(repo, root)
  p = main_(repo, TINY, f"--workdir={wd}", "--config.train.num_steps=60")
  lr = {r["step"]: r.get("lr") for r in map(json.loads, open(os.path.join(wd, "metrics.jsonl")))}
  n = json.load(open(os.path.join(wd, "config.json")))["train"]["num_steps"]
  jump = f"lr at step 50: {lr[50]:.2e} after {lr[40]:.2e} at 40" if 50 in lr else "no step trained"
  return f"{last(p)}; {jump}; config.json num_steps {n}"


def t_resolved_config(repo, root):
  wd = trained(repo, root)
  m = json.load(open(os.path.join(wd, "config.json")))["model"]
  return f"config.json: d_model {m['d_model']}, layers {m['num_layers']}, heads {m['num_heads']} (cpu_tiny: 32/1/2)"


def _grammar_flags(repo, path):
  """Flags that make the data card read the grammar file `path`: the 'file' preset where the checkout has one (its
  'released' preset accepts only the authors' file), else the 'released' preset, which then read any file."""
  registry = os.path.join(repo, "flatness_jax", "data", "registry.py")
  if os.path.exists(registry) and '"file"' in open(registry).read():
    return ["--config=configs/data_card.py", "--config.data.preset=file", f"--config.data.grammar_path={path}"]
  return ["--config=configs/data_card.py:released", f"--config.data.grammar_path={path}"]


def t_grammar_chain(repo, root):
  path = os.path.join(root, "chain.txt")
  with open(path, "w") as f:
    f.write("S A0 1.0\n" + "".join(f"A{i} A{i + 1} A{i + 1} 1.0\n" for i in range(25)) + "A25 w 1.0\n")
  p = main_(repo, *_grammar_flags(repo, path), f"--workdir={root}/card", prefix=("prlimit", "--as=6000000000"))
  return last(p)


def _bad_value(repo, root, flag):
  wd = os.path.join(root, "run")
  p = main_(repo, TINY, f"--workdir={wd}", flag)
  return f"{last(p)}" + (f"; {ckpts(wd)}" if os.path.isdir(wd) else "")


def t_lr_inf(repo, root):
  return _bad_value(repo, root, "--config.optimizer.learning_rate=inf")


def t_eps_negative(repo, root):
  return _bad_value(repo, root, "--config.optimizer.eps=-1")


def t_b1(repo, root):
  return _bad_value(repo, root, "--config.optimizer.b1=1.5")


def t_max_to_keep(repo, root):
  return _bad_value(repo, root, "--config.checkpoint.max_to_keep=-1")


def t_rerun_finished(repo, root):
  wd = trained(repo, root)
  before = json.load(open(os.path.join(wd, "summary.json")))["tokens_per_second"]
  main_(repo, TINY, f"--workdir={wd}")
  after = json.load(open(os.path.join(wd, "summary.json")))["tokens_per_second"]
  s = rows(wd)
  return f"rows {len(s)} ({len(s) - len(set(s))} duplicated); summary tokens/s {before:.0f} → {after:.0f}"


def t_sigkill_records(repo, root):
  wd = os.path.join(root, "run")
  start_and_signal(repo, wd, signal.SIGKILL, 1100, *LONG)
  main_(repo, TINY, f"--workdir={wd}", *LONG)
  files = len(glob.glob(os.path.join(wd, "tensorboard", "events*")))
  steps = dump_tb_steps(repo, wd)
  s = rows(wd)
  return (f"metrics rows {len(s)} ({len(s) - len(set(s))} duplicated); TensorBoard {files} files, "
          f"{steps} (step, tag) pairs written twice")


TB_STEPS = """
import sys, glob, struct, collections
def read_records(path):  # TFRecord: uint64 length, uint32 crc, data, uint32 crc (a torn last record ends it)
  buf = open(path, "rb").read()
  i = 0
  while i + 12 <= len(buf):
    (n,) = struct.unpack("<Q", buf[i:i + 8])
    if i + 16 + n > len(buf):
      return
    yield buf[i + 12:i + 12 + n]
    i += 16 + n
def fields(m):
  i = 0
  while i < len(m):
    k = 0; s = 0
    while True:
      b = m[i]; i += 1; k |= (b & 127) << s; s += 7
      if not b & 128: break
    n, w = k >> 3, k & 7
    if w == 0:
      v = 0; s = 0
      while True:
        b = m[i]; i += 1; v |= (b & 127) << s; s += 7
        if not b & 128: break
    elif w == 1: v = m[i:i+8]; i += 8
    elif w == 5: v = m[i:i+4]; i += 4
    else:
      l = 0; s = 0
      while True:
        b = m[i]; i += 1; l |= (b & 127) << s; s += 7
        if not b & 128: break
      v = m[i:i+l]; i += l
    yield n, v
c = collections.Counter()
for f in glob.glob(sys.argv[1] + '/tensorboard/events*'):
  for d in read_records(f):
    step = 0; tags = []
    for n, v in fields(d):
      if n == 2: step = v
      if n == 5:
        for n2, v2 in fields(v):
          tags += [v3 for n3, v3 in fields(v2) if n3 == 1]
    for t in tags: c[(step, t)] += 1
print(sum(1 for v in c.values() if v > 1))
"""


def dump_tb_steps(repo, wd):
  return py(repo, TB_STEPS, wd).stdout.strip() or "?"


def t_truncated_middle_line(repo, root):
  wd = trained(repo, root)
  path = os.path.join(wd, "metrics.jsonl")
  lines = open(path).read().splitlines(True)
  lines[5] = lines[5][:20] + "\n"
  open(path, "w").writelines(lines)
  p = main_(repo, TINY, f"--workdir={wd}", "--config.train.num_steps=60", "--config.optimizer.schedule_steps=40")
  if "schedule_steps" in p.stderr and p.returncode != 0:
    p = main_(repo, TINY, f"--workdir={wd}", "--config.train.num_steps=60")
  code = ("import sys\nfrom flatness_jax.rundir import reader\nr = reader.read_run(sys.argv[1])\n"
          "print(len(r.evaluations), getattr(r, 'problems', 'no problems field'))")
  out = py(repo, code, wd)
  warned = "line 6" in p.stderr
  return (f"resume exit {p.returncode}, warned about line 6: {warned}; reader: "
          f"`{(out.stdout.strip() or out.stderr.strip().splitlines()[-1])[:120]}`")


def t_report_no_summary(repo, root):
  wd = trained(repo, root)
  os.remove(os.path.join(wd, "summary.json"))
  code = ("import sys\nfrom flatness_jax.rundir import reader\nr = reader.read_run(sys.argv[1])\n"
          "print(r.num_params, r.missing)")
  out = py(repo, code, wd)
  return f"reader num_params, missing: `{out.stdout.strip() or out.stderr.strip()[-100:]}`"


def t_report_while_training(repo, root):
  wd = os.path.join(root, "run")
  p = subprocess.Popen([sys.executable, "-m", "experiments.main", TINY, f"--workdir={wd}", *LONG], cwd=repo,
                       env=_env(repo), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  while not [r for r in rows(wd) if r != "torn" and r > 50]:
    time.sleep(0.1)
  code = ("import sys\nfrom flatness_jax.rundir import reader\nr = reader.read_run(sys.argv[1])\n"
          "print(getattr(r, 'in_progress', 'no in_progress field'), getattr(r, 'writer', ''))")
  out = py(repo, code, wd)
  p.kill()
  p.wait()
  return f"reader while the run trains: in_progress = `{out.stdout.strip()[:80] or out.stderr.strip()[-80:]}`"


def _report(repo, out, *runs):
  """(process, report.md's text or '') of the report job writing into `out` from `runs` (default: out itself)."""
  flags = [f"--config.report.runs={','.join(runs)}"] if runs else []
  p = main_(repo, "--config=configs/report.py", f"--workdir={out}", *flags)
  path = os.path.join(out, "report.md")
  return p, open(path).read() if os.path.exists(path) else ""


def t_report_job_no_summary(repo, root):
  wd = trained(repo, root)
  os.remove(os.path.join(wd, "summary.json"))
  p, text = _report(repo, os.path.join(root, "out"), wd)
  return f"exit {p.returncode}; report.md says the run has no summary.json: {'no summary.json' in text}"


def t_report_job_while_training(repo, root):
  wd = os.path.join(root, "run")
  flags = ["--config.train.num_steps=40000", "--config.checkpoint.every=20000", "--config.eval.every=20000"]
  p = subprocess.Popen([sys.executable, "-m", "experiments.main", TINY, f"--workdir={wd}", *flags], cwd=repo,
                       env=_env(repo), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    while not [r for r in rows(wd) if r != "torn" and r > 50] and p.poll() is None:
      time.sleep(0.1)
    into, _ = _report(repo, wd)
    wrote = sorted(n for n in os.listdir(wd) if n.startswith(("report", "findings")))
    other, text = _report(repo, os.path.join(root, "out"), wd)
    training = p.poll() is None
  finally:
    p.kill()
    p.wait()
  return (f"into the training run: {last(into)}; written there: {wrote or 'nothing'}. Into another directory: exit "
          f"{other.returncode}, the run marked in progress: {'in progress' in text} (still training: {training})")


def t_job_nonexistent(repo, root):
  out = []
  for job in ("curvature", "probes"):
    wd = os.path.join(root, f"nowhere_{job}")
    p = main_(repo, f"--config=configs/{job}.py", f"--workdir={wd}")
    out.append(f"{job}: exit {p.returncode}, created: {os.path.exists(wd)}")
  subprocess.run(["git", "init", "-q", os.path.join(root, "repo")], check=True)
  git = os.path.join(root, "repo", ".git")
  p = main_(repo, "--config=configs/curvature.py", f"--workdir={git}")
  made = os.path.exists(os.path.join(git, ".writer.lock"))
  out.append(f".git: exit {p.returncode}, .git/.writer.lock created: {made}")
  return "; ".join(out)


def t_lock_symlink(repo, root):
  wd = os.path.join(root, "run")
  os.makedirs(wd)
  target = os.path.join(root, "precious.txt")
  open(target, "w").write("precious")
  os.symlink(target, os.path.join(wd, ".writer.lock"))
  p = main_(repo, TINY, f"--workdir={wd}")
  return f"{last(p)}; target now `{open(target).read().strip()[:40]}`"


def t_cache_parent(repo, root):
  parent = os.path.join(root, "shared")
  os.makedirs(os.path.join(parent, "cache"))
  os.chmod(parent, 0o777)
  os.chmod(os.path.join(parent, "cache"), 0o700)
  entry = os.path.join(parent, "cache", "entry")
  open(entry, "w").close()
  os.chmod(entry, 0o666)
  code = ("import sys, warnings\nwarnings.simplefilter('ignore')\nfrom flatness_jax.parallel import compile_cache\n"
          "print(compile_cache.enable(sys.argv[1]))")
  used = py(repo, code, parent + "/cache").stdout.strip()
  return f"cache under a world-writable parent with a world-writable entry used: `{used}`"


def t_unknown_field(repo, root):
  return last(main_(repo, TINY, f"--workdir={root}/run", "--config.model.foo=1"))


def t_missing_config(repo, root):
  return last(main_(repo, "--config=configs/nope.py", f"--workdir={root}/run"))


def t_broken_config(repo, root):
  path = os.path.join(root, "broken.py")
  open(path, "w").write("def get_config(:\n")
  return last(main_(repo, f"--config={path}", f"--workdir={root}/run"))


def t_unknown_word(repo, root):
  return last(main_(repo, "--config=configs/pcfg.py:nope", f"--workdir={root}/run"))


def _grammar(repo, root, path):
  return last(main_(repo, *_grammar_flags(repo, path), f"--workdir={root}/card"))


def t_binary_grammar(repo, root):
  path = os.path.join(root, "g.bin")
  open(path, "wb").write(bytes(range(256)) * 4)
  return _grammar(repo, root, path)


def t_directory_grammar(repo, root):
  return _grammar(repo, root, root)


OPT = """
import sys, jax, numpy as np
from flatness_jax.decoder import hf_checkpoint
from flatness_jax.data import lm_config
cfg = hf_checkpoint.config_from_hf(lm_config.PRESETS["tiny"]["decoder"])
hf_checkpoint.save_opt(sys.argv[1], cfg, jax.tree.map(np.zeros_like, hf_checkpoint.abstract_params(cfg)))
"""


def _opt(repo, root, victim):
  d = os.path.join(root, "opt")
  py(repo, OPT, d)
  path = os.path.join(d, victim)
  data = open(path, "rb").read()
  open(path, "wb").write(data[:len(data) // 2])
  return last(main_(repo, "--config=configs/data_card.py", "--config.data.kind=lm", "--config.data.preset=paper",
                    f"--config.data.checkpoint={d}", "--config.data.num_tokens=3", "--config.data.max_length=3",
                    "--config.data.token_ids=1,2,3", f"--workdir={root}/card"))


def t_truncated_safetensors(repo, root):
  return _opt(repo, root, "model.safetensors")


def t_invalid_config_json(repo, root):
  return _opt(repo, root, "config.json")


def _on_tmpfs(root, name, options, fn):
  """fn(directory) on a tmpfs mounted with `options` at root/name (unmounted after), or why it cannot be."""
  d = os.path.join(root, name)
  os.makedirs(d)
  if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", d]).returncode:
    return f"(no tmpfs with {options} on this machine)"
  try:
    return fn(d)
  finally:
    subprocess.run(["umount", d])


def t_read_only(repo, root):
  return _on_tmpfs(root, "ro", "ro,size=1m", lambda d: last(main_(repo, TINY, f"--workdir={d}/run")))


def t_full_disk(repo, root):
  def full(d):
    p = main_(repo, TINY, f"--workdir={d}/run")
    return f"{last(p, 70)}; reason in the last line: {'No space left on device' in p.stderr.strip().splitlines()[-1]}"
  return _on_tmpfs(root, "disk", "size=600k", full)


def t_other_tools_dir(repo, root):
  d = os.path.join(root, "hf")
  os.makedirs(d)
  open(os.path.join(d, "config.json"), "w").write('{"model_type": "opt", "hidden_size": 8}')
  p = main_(repo, "--config=configs/curvature.py", f"--workdir={d}")
  return f"{last(p)}; files now {sorted(os.listdir(d))}"


def t_truncated_npz(repo, root):
  wd = trained(repo, root)
  path = os.path.join(wd, "heldout_losses.npz")
  open(path, "r+b").truncate(100)
  flags = ["--config.train.num_steps=60", "--config.optimizer.schedule_steps=40"]
  p = main_(repo, TINY, f"--workdir={wd}", *flags)
  if "schedule_steps" in p.stderr and p.returncode != 0:
    flags = flags[:1]
    p = main_(repo, TINY, f"--workdir={wd}", *flags)
  p2 = main_(repo, TINY, f"--workdir={wd}", *flags)
  return f"{last(p)}; rerun exit {p2.returncode}; files {sorted(f for f in os.listdir(wd) if 'heldout' in f)}"


def t_tensorstore_error(repo, root):
  wd = trained(repo, root)
  for f in glob.glob(os.path.join(wd, "checkpoints", "40", "**", "*"), recursive=True):
    if os.path.isfile(f) and ("ocdbt" in f or f.endswith("manifest.ocdbt")):
      open(f, "r+b").truncate(3)
  for f in glob.glob(os.path.join(wd, "checkpoints", "40", "checksums.json")):
    os.remove(f)  # a checkpoint without checksums (as before them): only reading it finds the damage
  p = main_(repo, "--config=configs/curvature.py", f"--workdir={wd}")
  line = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
  return f"exit {p.returncode}, error line of {len(line):,} characters: `{line[:80]}…`"


TRIALS = [
    ("resume with --config.optimizer.name=sgd, then a plain run", t_changed_config),
    ("resume with --config.model.num_layers=3", t_changed_layers),
    ("every checkpoint truncated, then a plain run", t_all_truncated),
    ("SIGTERM mid-run (checkpoints every 1000 steps), then resume", t_sigterm),
    ("SIGINT mid-run, then resume", t_sigint),
    ("optimizer state of checkpoint 40 rewritten (valid Orbax, other bytes), then extend", t_corrupt_opt_state),
    ("finished 40-step run resumed with train.num_steps=60", t_extend),
    ("config.json of a cpu_tiny run", t_resolved_config),
    ("data card of a 27-line grammar chain (6 GB address-space limit)", t_grammar_chain),
    ("optimizer.learning_rate=inf", t_lr_inf),
    ("optimizer.eps=-1", t_eps_negative),
    ("optimizer.b1=1.5", t_b1),
    ("checkpoint.max_to_keep=-1", t_max_to_keep),
    ("re-run of a finished run", t_rerun_finished),
    ("SIGKILL mid-run, resume: records", t_sigkill_records),
    ("metrics.jsonl line 6 truncated, then extend and read", t_truncated_middle_line),
    ("reader on a run without summary.json", t_report_no_summary),
    ("reader while the run trains", t_report_while_training),
    ("report job on a run without summary.json", t_report_job_no_summary),
    ("report job into a run that is training, and reading it from elsewhere", t_report_job_while_training),
    ("curvature/probes on a nonexistent directory and on .git", t_job_nonexistent),
    (".writer.lock a symlink to another file", t_lock_symlink),
    ("compilation cache under a world-writable parent", t_cache_parent),
    ("unknown config field --config.model.foo=1", t_unknown_field),
    ("missing config file", t_missing_config),
    ("config file with a syntax error", t_broken_config),
    ("unknown config word configs/pcfg.py:nope", t_unknown_word),
    ("binary grammar file", t_binary_grammar),
    ("a directory as grammar", t_directory_grammar),
    ("truncated model.safetensors (LM language)", t_truncated_safetensors),
    ("truncated config.json of the OPT checkpoint", t_invalid_config_json),
    ("new run in a read-only directory", t_read_only),
    ("full disk (600 KB tmpfs)", t_full_disk),
    ("curvature job on another tool's directory", t_other_tools_dir),
    ("truncated heldout_losses.npz, then extend and rerun", t_truncated_npz),
    ("curvature on a checkpoint whose TensorStore files are truncated", t_tensorstore_error),
]


def run_trial(fn, repo):
  root = tempfile.mkdtemp(prefix="fault_")
  try:
    return fn(os.path.abspath(repo), root)
  except Exception as e:  # pylint: disable=broad-except
    return f"(trial failed: {type(e).__name__}: {str(e)[:100]})"
  finally:
    subprocess.run(["umount", "-q", os.path.join(root, "ro")], capture_output=True)
    subprocess.run(["umount", "-q", os.path.join(root, "disk")], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--before", default="", help="the checkout to compare with ('' : the after column only)")
  parser.add_argument("--after", default=".")
  parser.add_argument("--only", default="")
  args = parser.parse_args()
  only = [s for s in args.only.split(",") if s]
  sides = [r for r in (args.before, args.after) if r]
  print(f"| fault | {' | '.join(['before', 'after'][-len(sides):])} |\n|---|{'---|' * len(sides)}", flush=True)
  for name, fn in TRIALS:
    if only and fn.__name__[2:] not in only:
      continue
    print(f"| {name} | {' | '.join(run_trial(fn, r) for r in sides)} |", flush=True)


if __name__ == "__main__":
  main()
