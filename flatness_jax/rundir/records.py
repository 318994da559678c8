"""Typed records of a run directory: what the jobs write and what every reader gets back.

The JSON files keep their keys (so run directories written earlier read the same); this module is the only place
that knows them. Each record has `from_json` (tolerant of missing keys: absent numbers read as nan) and, where a
job writes it, `to_json`.

  Evaluation   one held-out evaluation (a metrics.jsonl row with a gap): loss, paired gap to the exact optimum
               (nats and fraction of L*) with SEs, masked-token and Bayes accuracy;
  Estimate     a number with its standard error on `dof` degrees of freedom (Tr(H) by an estimator, the Fisher
               trace, a downstream-loss trace, a sharpness measure), what it cost, and its 95% interval;
  Curvature    one checkpoint's curvature.json entry: Tr(H) by method, Fisher, λmax, Tr(H) embedded in a larger
               architecture, downstream-loss traces per task;
  ProbeAccuracy, CheckpointProbes, TaskReference, Probes: probes.json (linear probes and fine-tuning per
               checkpoint and task, majority / Bayes / lookup-table references);
  Summary      summary.json, the end of a training run;
  Verdict      what a comparison concludes (reproduced / opposite / differs / not significant / untested, why).
"""
import dataclasses
import math
from typing import Optional

NAN = float("nan")


def _f(d: dict, key: str, default=NAN) -> float:
  v = d.get(key, default)
  return NAN if v is None else float(v)


# ---------------------------------------------------------------------------------------------- evaluation
EVALUATION_KEYS = ("eval_loss", "eval_loss_se", "optimal_loss", "optimal_loss_se", "gap", "gap_se", "gap_relative",
                   "gap_relative_se", "eval_accuracy", "bayes_accuracy")


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """The held-out evaluation at `step` (flatness_jax.train.heldout.summarize): gap = mean_i(ℓ_i − ℓ*_i) over the
  fixed pairs, gap_relative = gap / mean(ℓ*) (fraction of L*), each with its paired standard error."""
  step: int
  eval_loss: float
  eval_loss_se: float
  optimal_loss: float
  optimal_loss_se: float
  gap: float
  gap_se: float
  gap_relative: float
  gap_relative_se: float
  eval_accuracy: float = NAN
  bayes_accuracy: float = NAN

  @classmethod
  def from_json(cls, row: dict) -> "Evaluation":
    return cls(step=int(row["step"]), **{k: _f(row, k) for k in EVALUATION_KEYS})

  def to_json(self) -> dict:
    """The evaluation's fields of a metrics.jsonl row (without the step)."""
    return {k: getattr(self, k) for k in EVALUATION_KEYS}

  @staticmethod
  def is_evaluation(row: dict) -> bool:
    """Whether a metrics.jsonl row carries a held-out evaluation."""
    return "gap" in row or "gap_relative" in row


# ---------------------------------------------------------------------------------------------- estimates
def t_interval(value: float, stderr: float, dof: float, level: float = 0.95) -> tuple[float, float]:
  """value ± q·stderr with q the (1 + level)/2 quantile of Student's t on `dof` degrees of freedom (normal: inf)."""
  from scipy import stats as sps  # pylint: disable=g-import-not-at-top
  q = float(sps.t.ppf(0.5 + level / 2, dof)) if math.isfinite(dof) else float(sps.norm.ppf(0.5 + level / 2))
  return value - q * stderr, value + q * stderr


@dataclasses.dataclass(frozen=True)
class Estimate:
  """value ± stderr; the stderr has `dof` degrees of freedom (inf: normal); `cost` units of `unit` were spent;
  `ci95` the 95% interval the estimator reported (Student t on `dof` when it reported none)."""
  value: float = NAN
  stderr: float = NAN
  dof: float = math.inf
  cost: int = 0
  unit: str = "matvecs"     # 'matvecs' (Hessian-vector products), 'gradients' (per-example) or 'samples'
  seconds: float = NAN
  ci95: tuple = (NAN, NAN)
  converged: Optional[bool] = None  # adaptive estimators: whether the target relative SE was met

  def __post_init__(self):
    if not all(math.isfinite(c) for c in self.ci95) and math.isfinite(self.value) and math.isfinite(self.stderr):
      object.__setattr__(self, "ci95", t_interval(self.value, self.stderr, self.dof))

  @property
  def present(self) -> bool:
    return math.isfinite(self.value)

  @classmethod
  def from_json(cls, d: Optional[dict]) -> "Estimate":
    """From a recorded entry; without `dof`, matvecs − 1 (or gradients − 1), else infinite."""
    if not d:
      return cls()
    unit = next((u for u in ("matvecs", "gradients", "samples") if u in d), "matvecs")
    cost = int(d.get(unit, 0) or 0)
    dof = float(d["dof"]) if "dof" in d else (float(cost - 1) if cost else math.inf)
    ci = tuple(float(c) for c in d["ci95"]) if d.get("ci95") else (NAN, NAN)
    return cls(value=_f(d, "value"), stderr=_f(d, "stderr"), dof=dof, cost=cost, unit=unit,
               seconds=_f(d, "seconds"), ci95=ci, converged=d.get("converged"))

  def to_json(self) -> dict:
    dof = int(self.dof) if math.isfinite(self.dof) and float(self.dof).is_integer() else self.dof
    out = {"value": self.value, "stderr": self.stderr, "ci95": list(self.ci95), "dof": dof, self.unit: self.cost,
           "seconds": self.seconds}
    if self.converged is not None:
      out["converged"] = self.converged
    return out


MISSING = Estimate()


@dataclasses.dataclass(frozen=True)
class Eigenvalue:
  """A Lanczos Ritz value with its residual norm ‖H v − θ v‖."""
  value: float = NAN
  residual: float = NAN
  matvecs: int = 0
  seconds: float = NAN

  @classmethod
  def from_json(cls, d: Optional[dict]) -> "Eigenvalue":
    d = d or {}
    return cls(_f(d, "value"), _f(d, "residual"), int(d.get("matvecs", 0) or 0), _f(d, "seconds"))

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


# Names of the curvature measures a reader asks for (Curvature.estimate); the JSON keys stay in this module.
HUTCHINSON, HUTCHPP, XTRACE = "hutchinson", "hutchpp", "xtrace"
FISHER, EMBEDDED = "fisher", "embedded"
_TRACE_PREFIX = "hessian_trace_"
_FISHER_KEY, _EMBEDDED_KEY, _LAMBDA_KEY, _DOWNSTREAM_KEY = ("fisher_trace", "hessian_trace_embedded", "lambda_max",
                                                           "downstream_trace")
_MEASURES_KEY = "sharpness"


@dataclasses.dataclass(frozen=True)
class Curvature:
  """One checkpoint's curvature (flatness_jax.eval.curvature): the pre-training loss on the curvature pairs, Tr(H) by
  method, the Fisher trace, λmax, Tr(H) embedded in another architecture (`embedded_into`, with the embedded
  model's loss), downstream-loss traces {task: (estimate, probe loss)} and the sharpness measures {name: estimate}
  (flatness_jax.eval.curvature.SHARPNESS) with the radius ρ each was measured at (`measure_rho`; none for the
  Fisher–Rao norm). Records written before the measures existed read with both empty."""
  step: int
  loss: float = NAN
  hessian: dict = dataclasses.field(default_factory=dict)       # method -> Estimate
  fisher: Estimate = MISSING
  lambda_max: Eigenvalue = Eigenvalue()
  embedded: Estimate = MISSING
  embedded_into: str = ""
  embedded_loss: float = NAN
  embedded_params: int = 0
  downstream: dict = dataclasses.field(default_factory=dict)    # task -> Estimate
  probe_loss: dict = dataclasses.field(default_factory=dict)    # task -> float
  measures: dict = dataclasses.field(default_factory=dict)      # name -> Estimate
  measure_rho: dict = dataclasses.field(default_factory=dict)   # name -> ρ (radius measures only)

  def estimate(self, name: str) -> Estimate:
    """Tr(H) by method name, or FISHER / EMBEDDED, or a sharpness measure; MISSING when not measured."""
    if name == FISHER:
      return self.fisher
    if name == EMBEDDED:
      return self.embedded
    return self.hessian.get(name) or self.measures.get(name) or MISSING

  @classmethod
  def from_json(cls, step: int, d: dict) -> "Curvature":
    embedded = d.get(_EMBEDDED_KEY) or {}
    down = d.get(_DOWNSTREAM_KEY) or {}
    return cls(step=int(step), loss=_f(d, "loss"),
               hessian={k[len(_TRACE_PREFIX):]: Estimate.from_json(v) for k, v in d.items()
                        if k.startswith(_TRACE_PREFIX) and k != _EMBEDDED_KEY},
               fisher=Estimate.from_json(d.get(_FISHER_KEY)), lambda_max=Eigenvalue.from_json(d.get(_LAMBDA_KEY)),
               embedded=Estimate.from_json(embedded), embedded_into=embedded.get("into", ""),
               embedded_loss=_f(embedded, "embedded_loss"), embedded_params=int(embedded.get("embedded_params", 0)),
               downstream={t: Estimate.from_json(v) for t, v in down.items()},
               probe_loss={t: _f(v, "probe_loss") for t, v in down.items()},
               measures={k: Estimate.from_json(v) for k, v in (d.get(_MEASURES_KEY) or {}).items()},
               measure_rho={k: float(v["rho"]) for k, v in (d.get(_MEASURES_KEY) or {}).items()
                            if v and v.get("rho") is not None})

  def to_json(self) -> dict:
    out = {"step": self.step, "loss": self.loss}
    out.update({f"{_TRACE_PREFIX}{m}": e.to_json() for m, e in self.hessian.items()})
    if self.fisher.present:
      out[_FISHER_KEY] = self.fisher.to_json()
    if math.isfinite(self.lambda_max.value):
      out[_LAMBDA_KEY] = self.lambda_max.to_json()
    if self.embedded.present:
      out[_EMBEDDED_KEY] = {**self.embedded.to_json(), "into": self.embedded_into, "embedded_loss": self.embedded_loss}
      if self.embedded_params:
        out[_EMBEDDED_KEY]["embedded_params"] = self.embedded_params
    out[_DOWNSTREAM_KEY] = {t: {**e.to_json(), "probe_loss": self.probe_loss.get(t, NAN)}
                            for t, e in self.downstream.items()}
    if self.measures:
      out[_MEASURES_KEY] = {k: {**e.to_json(), **({"rho": self.measure_rho[k]} if k in self.measure_rho else {})}
                            for k, e in self.measures.items()}
    return out


def read_curvature_steps(doc: dict) -> dict:
  """{step: Curvature} from a curvature.json document."""
  return {int(s): Curvature.from_json(s, v) for s, v in (doc or {}).get("steps", {}).items()}


# ---------------------------------------------------------------------------------------------- probes
@dataclasses.dataclass(frozen=True)
class ProbeAccuracy:
  """Test accuracy of a probe (or fine-tuning) over its seeds: mean, sample std, the per-seed values (each at its
  validation-selected epoch `best_epoch`, with that epoch's validation accuracy)."""
  mean: float = NAN
  std: float = NAN
  per_seed: tuple = ()
  seconds: float = NAN
  best_epoch: tuple = ()
  val_accuracy: tuple = ()

  @property
  def num_seeds(self) -> int:
    return len(self.per_seed)

  @classmethod
  def from_json(cls, d: Optional[dict]) -> "ProbeAccuracy":
    d = d or {}
    return cls(_f(d, "accuracy_mean"), _f(d, "accuracy_std"), tuple(d.get("accuracy_per_seed", ())),
               _f(d, "seconds"), tuple(d.get("best_epoch", ())), tuple(d.get("val_accuracy", ())))

  def to_json(self) -> dict:
    out = {"accuracy_mean": self.mean, "accuracy_std": self.std, "accuracy_per_seed": list(self.per_seed),
           "best_epoch": list(self.best_epoch), "val_accuracy": list(self.val_accuracy)}
    if math.isfinite(self.seconds):
      out["seconds"] = self.seconds
    return out


MISSING_ACCURACY = ProbeAccuracy()
_FINETUNE = "finetune"


@dataclasses.dataclass(frozen=True)
class CheckpointProbes:
  """Probe accuracies of one checkpoint by task, and fine-tuning accuracies where measured."""
  step: int
  probes: dict = dataclasses.field(default_factory=dict)     # task -> ProbeAccuracy
  finetune: dict = dataclasses.field(default_factory=dict)   # task -> ProbeAccuracy
  seconds: float = NAN

  def accuracy(self, task: str) -> ProbeAccuracy:
    return self.probes.get(task, MISSING_ACCURACY)

  def finetune_accuracy(self, task: str) -> ProbeAccuracy:
    return self.finetune.get(task, MISSING_ACCURACY)

  @classmethod
  def from_json(cls, step: int, d: dict, tasks) -> "CheckpointProbes":
    return cls(step=int(step), probes={t: ProbeAccuracy.from_json(d[t]) for t in tasks if t in d},
               finetune={t: ProbeAccuracy.from_json(v) for t, v in (d.get(_FINETUNE) or {}).items()},
               seconds=_f(d, "seconds"))


@dataclasses.dataclass(frozen=True)
class TaskReference:
  """A task's reference accuracies on the probes' test split: majority class, Bayes optimal (None when unknown:
  external text), class count, test size."""
  majority_accuracy: float
  bayes_accuracy: Optional[float]
  num_classes: int
  num_test: int = 0

  @classmethod
  def from_json(cls, d: dict) -> "TaskReference":
    bayes = d.get("bayes_accuracy")
    return cls(_f(d, "majority_accuracy"), None if bayes is None else float(bayes), int(d.get("num_classes", 0)),
               int(d.get("num_test", 0)))


@dataclasses.dataclass(frozen=True)
class Probes:
  """probes.json: references per task, the lookup-table baseline per task, skipped tasks, and every measured
  checkpoint."""
  tasks: dict = dataclasses.field(default_factory=dict)      # task -> TaskReference
  lookup: dict = dataclasses.field(default_factory=dict)     # task -> ProbeAccuracy
  skipped: dict = dataclasses.field(default_factory=dict)    # task -> why
  steps: dict = dataclasses.field(default_factory=dict)      # step -> CheckpointProbes

  @classmethod
  def from_json(cls, doc: Optional[dict]) -> "Probes":
    doc = doc or {}
    tasks = doc.get("tasks", {})
    return cls(tasks={t: TaskReference.from_json(v) for t, v in tasks.items()},
               lookup={t: ProbeAccuracy.from_json(v) for t, v in doc.get("lookup", {}).items()},
               skipped=dict(doc.get("skipped", {})),
               steps={int(s): CheckpointProbes.from_json(s, v, tasks) for s, v in doc.get("steps", {}).items()})


# ---------------------------------------------------------------------------------------------- summary
_GAP_UNITS = ("final_gap in nats (model − optimal, paired over held-out pairs); final_gap_relative = final_gap / "
              "optimal_loss")


@dataclasses.dataclass(frozen=True)
class Summary:
  """summary.json: the end of a training run (size, steps, wall time, speed, language, and the final held-out
  evaluation under summary.json's `final_*` names)."""
  num_params: int
  steps: int
  language: str
  final: Optional[Evaluation] = None
  wall_seconds: float = NAN
  tokens_per_second: float = NAN
  adversarial_lambda_final: float = NAN

  @property
  def final_gap_relative(self) -> float:
    return self.final.gap_relative if self.final else NAN

  @classmethod
  def from_json(cls, d: Optional[dict]) -> Optional["Summary"]:
    if not d:
      return None
    final = None
    if "final_gap" in d or "final_gap_relative" in d:
      final = Evaluation(int(d.get("steps", 0)), _f(d, "final_loss"), NAN, _f(d, "optimal_loss"),
                         _f(d, "optimal_loss_se"), _f(d, "final_gap"), _f(d, "final_gap_se"),
                         _f(d, "final_gap_relative"), _f(d, "final_gap_relative_se"), _f(d, "final_accuracy"),
                         _f(d, "bayes_accuracy"))
    return cls(int(d.get("num_params", 0)), int(d.get("steps", 0)), str(d.get("language", "")), final,
               _f(d, "wall_seconds"), _f(d, "tokens_per_second"), _f(d, "adversarial_lambda_final"))

  def to_json(self) -> dict:
    e = self.final
    out = {"num_params": self.num_params, "steps": self.steps, "wall_seconds": self.wall_seconds,
           "optimal_loss": e.optimal_loss, "optimal_loss_se": e.optimal_loss_se, "final_loss": e.eval_loss,
           "final_gap": e.gap, "final_gap_se": e.gap_se, "final_gap_relative": e.gap_relative,
           "final_gap_relative_se": e.gap_relative_se, "final_accuracy": e.eval_accuracy,
           "bayes_accuracy": e.bayes_accuracy, "tokens_per_second": self.tokens_per_second,
           "language": self.language, "gap_units": _GAP_UNITS}
    if math.isfinite(self.adversarial_lambda_final):
      out["adversarial_lambda_final"] = self.adversarial_lambda_final
    return out


# ---------------------------------------------------------------------------------------------- verdicts
REPRODUCED, OPPOSITE, DIFFERS, NOT_SIGNIFICANT, UNTESTED = (
    "reproduced", "opposite", "differs", "not significant at this scale", "untested")


@dataclasses.dataclass(frozen=True)
class Verdict:
  """What a comparison concludes: `kind` (one of the five above) and, for 'untested', why."""
  kind: str
  reason: str = ""

  def __post_init__(self):
    if self.kind not in (REPRODUCED, OPPOSITE, DIFFERS, NOT_SIGNIFICANT, UNTESTED):
      raise ValueError(f"unknown verdict kind {self.kind!r}")

  @property
  def tested(self) -> bool:
    return self.kind != UNTESTED

  @property
  def significant(self) -> bool:
    return self.kind in (REPRODUCED, OPPOSITE, DIFFERS)

  def __str__(self) -> str:
    return f"{UNTESTED}: {self.reason}" if self.kind == UNTESTED else self.kind

  @classmethod
  def untested(cls, reason: str) -> "Verdict":
    return cls(UNTESTED, reason)
