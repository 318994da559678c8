"""What a run directory may be resumed with: the config that made it, and the changes that keep the function trained.

A run directory's config.json records the fully resolved config of its run (flatness_jax.train.arms
.resolve_run_config). A run started on a directory that has one compares the two field by field (dotted names):
  * fields that say only where, how fast, or how much of the same computation is kept may differ (RECORD_ONLY:
    name and job, the mesh and FSDP, the evaluation batch, how many checkpoints are kept);
  * train.num_steps may change when the learning-rate schedule keeps its length. The recorded run's schedule spans
    S = optimizer.schedule_steps, or its train.num_steps when that is 0 (flatness_jax.train.optim); a new config
    that sets optimizer.schedule_steps=S trains every step up to S exactly as before, and after S the rate stays
    at its final value. Extending a finished 200-step run to 300 steps is therefore
    `--config.train.num_steps=300 --config.optimizer.schedule_steps=200`;
  * any other difference changes the function being trained, and `check` refuses it in one line naming the fields
    (the run is left as it was: nothing is written before this check).
"""
import json

RECORD_ONLY = ("name", "job", "parallel.", "eval.batch_size", "checkpoint.max_to_keep")


class ResumeConflictError(ValueError):
  """A run directory recorded another config than the one it is asked to continue with; `problem` is the message
  without its hint (what a caller that knows a better remedy, like the tier job, shows)."""

  def __init__(self, problem: str, hint: str = ""):
    super().__init__(f"{problem}. {hint}" if hint else problem)
    self.problem = problem


def flatten(d: dict, prefix: str = "") -> dict:
  """{'a.b': value} of a nested dict (lists as JSON would hold them)."""
  out = {}
  for key, value in d.items():
    if isinstance(value, dict):
      out.update(flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = json.loads(json.dumps(value)) if isinstance(value, (list, tuple)) else value
  return out


def schedule_length(flat: dict) -> int:
  """S: the steps the learning-rate schedule spans (optimizer.schedule_steps, or train.num_steps when 0)."""
  return int(flat.get("optimizer.schedule_steps") or 0) or int(flat["train.num_steps"])


def differences(recorded: dict, config: dict) -> list[tuple]:
  """(field, recorded value, new value) for every field that differs and changes the function trained (module
  docstring): train.num_steps first when the schedule's length changes, then in name order."""
  old, new = flatten(recorded), flatten(config)
  out = []
  if schedule_length(old) != schedule_length(new):
    out.append(("train.num_steps", old["train.num_steps"], new["train.num_steps"]))
  for name in sorted(set(old) | set(new)):
    if name.startswith(RECORD_ONLY) or name in ("train.num_steps", "optimizer.schedule_steps"):
      continue
    a, b = old.get(name, "(absent)"), new.get(name, "(absent)")
    if a != b:
      out.append((name, a, b))
  return out


def extends(recorded: dict, config: dict) -> bool:
  """Whether `config` continues the recorded run to another length (train.num_steps or optimizer.schedule_steps
  differ), so config.json must record the new values."""
  old, new = flatten(recorded), flatten(config)
  return any(old.get(k, 0) != new.get(k, 0) for k in ("train.num_steps", "optimizer.schedule_steps"))


def check(workdir: str, recorded: dict, config: dict, newest_step) -> None:
  """Raises ResumeConflictError (one line) unless the run recorded in `workdir` may continue with `config`: same
  function (module docstring) and no checkpoint beyond config's train.num_steps."""
  diff = differences(recorded, config)
  if diff:
    (name, a, b), others = diff[0], [d[0] for d in diff[1:]]
    shown = f"{name} {a!r} → {b!r}" + (f"; also {', '.join(others[:4])}" if others else "")
    shown += f" and {len(others) - 4} more" if len(others) > 4 else ""
    hint = "Use a new --workdir for a new run"
    if name == "train.num_steps":
      s = schedule_length(flatten(recorded))
      hint = (f"To extend it keeping its lr schedule (constant after step {s}), add "
              f"--config.optimizer.schedule_steps={s}")
    raise ResumeConflictError(f"{workdir}: config differs from the run's ({shown}); not resumed, nothing changed",
                              hint)
  steps = int(config["train"]["num_steps"])
  if newest_step is not None and newest_step > steps:
    raise ResumeConflictError(f"{workdir} has a checkpoint at step {newest_step}, beyond train.num_steps={steps}; "
                              "not resumed, nothing changed")
