"""The claims a report can test, what the paper says about each, and which of them a report's family declares.

Liu, Xie, Li, Ma (ICML 2023) claim, on the primary downstream task of each language:
  continued             continued training after the loss has converged improves downstream accuracy (Fig. 1);
  size                  larger models are better at equal pre-training loss (Fig. 2);
  algorithm             the training algorithm matters at equal loss: adversarial pre-training transfers worse
                        (Tables 1–2; App. A.4);
  flatter               flatter is better among converged checkpoints: ρ(Tr(H), accuracy) < 0;
and the reviewers asked two questions:
  flatness_beyond_size  does flatness predict accuracy beyond size? partial r(Tr(H), acc | log params) < 0;
  downstream_flatness   does the flatness of the downstream (probe) loss track accuracy? ρ(Tr(H_probe), acc), no
                        direction claimed (two-sided);
and Theorem 4.3 predicts
  drift                 the post-convergence drift of Tr(H) falls with the batch size (rate ∝ 1/B: log–log slope
                        −1, tested against 0).
An experiment config declares its confirmatory family as `report.claims` (a comma-separated list of these ids);
each declared claim gives one row per language on that language's primary task (`report.primary_task`, recorded
by experiments/configs/languages.py), and only those rows get verdicts (flatness_jax.analysis.family).
"""
import dataclasses
from typing import Optional

from flatness_jax.rundir import fields

NO_EFFECT = None


@dataclasses.dataclass(frozen=True)
class Claim:
  """A claim: its id, its row's title and unit, its direction (+1 / −1 the paper's sign of the row's estimate; 0
  two-sided), what the paper reports by language kind ('*': any), and the paper's effect in the row's unit where it
  gives one."""
  id: str
  title: str
  unit: str
  expected: int
  paper: dict
  effect: dict = dataclasses.field(default_factory=dict)

  def paper_text(self, kind: str) -> str:
    return self.paper.get(kind, self.paper.get("*", "—"))

  def paper_effect(self, kind: str) -> Optional[float]:
    return self.effect.get(kind, self.effect.get("*", NO_EFFECT))


CLAIMS = {c.id: c for c in (
    Claim("continued", "Continued training improves accuracy at equal loss", "pts", +1, {"pcfg": "improves (Fig. 1)", "hmm": "+4.0 (67M LSTM, state at position 10)",
                            "lm": "improves"}, {"hmm": 4.0}),
    Claim("size", "Larger is better at equal loss", "pts", +1, {"pcfg": "+6.9", "hmm": "+4.5", "lm": "+2.0 (QNLI / SST-2)"},
          {"pcfg": 6.9, "hmm": 4.5, "lm": 2.0}),
    Claim("algorithm", "The algorithm matters at equal loss (adversarial − reference)", "pts", -1, {"pcfg": "AdamW vs adversarial: A 89.9 vs 83.1, B 49.2 vs 42.3, C 55.7 vs 50.2",
                            "*": "adversarial pre-training transfers worse at equal loss"}, {"pcfg": -6.8}),
    Claim("flatter", "Flatter is better: ρ(Tr(H), acc) over converged checkpoints", "ρ", -1, {"*": "negative (flatter is better)"}),
    Claim("flatness_beyond_size", "Flatness beyond size: partial r(Tr(H), acc | log params)", "r", -1, {"*": "negative (reviewers' question)"}),
    Claim("downstream_flatness", "Downstream-loss flatness: ρ(Tr(H_probe), acc)", "ρ", 0, {"*": "— (reviewers' question)"}),
    Claim("drift", "Flatness drift falls with batch size (Theorem 4.3)", "slope", -1, {"*": "slope −1 (rate ∝ 1/B, Theorem 4.3)"}),
)}
# What the paper says about the rows no claim covers (exploratory: numbers only).
EXPLORATORY_PAPER = {"continued_trace": "decreases", "size_trace": "lower for larger (19.8 → 12.6 above 9M)"}
DEFAULT_MARGIN = 0.005


def parse(value, where: str = "report.claims") -> tuple:
  """Claim ids from 'a,b' (or a list), in CLAIMS order; ValueError naming an unknown one."""
  names = fields.split_list(value)
  unknown = [n for n in names if n not in CLAIMS]
  if unknown:
    raise ValueError(f"{where}: unknown claim(s) {unknown}; known: {list(CLAIMS)}")
  return tuple(c for c in CLAIMS if c in names)


@dataclasses.dataclass(frozen=True)
class Settings:
  """How a report is built. claims / equal_loss_margin / primary_task None: as the runs' recorded configs say
  (the experiment that trained them), else the default family (every claim), DEFAULT_MARGIN and the language's
  recorded adversarial task. num_boot draws per correlation and one bootstrap seed for the whole report."""
  claims: Optional[str] = None
  equal_loss_margin: Optional[float] = None
  primary_task: Optional[str] = None
  saturated_gap: float = 0.03
  iso_tol: float = 1.0
  num_boot: int = 2000
  seed: int = 0
  level: float = 0.05
  source: str = "the report config"  # where explicit `claims` were declared (the config that builds the report)

  @classmethod
  def of(cls, report_config, **overrides) -> "Settings":
    """From a config's `report` section (missing fields keep their defaults), then `overrides`."""
    names = [f.name for f in dataclasses.fields(cls)]
    given = {k: report_config.get(k) for k in names if report_config is not None and k in report_config}
    given = {k: v for k, v in given.items() if v is not None or k in ("claims", "equal_loss_margin", "primary_task")}
    settings = cls(**{**given, **overrides})
    settings.check()
    return settings

  def check(self) -> None:
    """ValueError naming a setting that cannot be used (before any statistics are computed)."""
    if self.claims is not None:
      parse(self.claims)
    m = self.equal_loss_margin
    if m is not None and not (0 < m < 1):
      raise ValueError(f"report.equal_loss_margin={m!r} must be a fraction of L* in (0, 1)")
    if not 0 < self.saturated_gap < 1:
      raise ValueError(f"report.saturated_gap={self.saturated_gap!r} must be a fraction of L* in (0, 1)")
    if self.num_boot < 100:
      raise ValueError(f"num_boot={self.num_boot} is too few bootstrap draws (≥ 100)")


@dataclasses.dataclass(frozen=True)
class Declaration:
  """The family a report tests: claim ids, where they were declared, the equal-loss margin, and the primary task
  per language."""
  claims: tuple
  source: str
  margin: float
  primary: dict


def _recorded(runs, key: str) -> dict:
  """{value: [run names]} of the runs' recorded report.<key> (None: not recorded)."""
  out = {}
  for r in runs:
    value = (r.config.get("report") or {}).get(key)
    if value is not None:
      out.setdefault(value, []).append(r.name)
  return out


def _primary(runs, language: str, explicit: Optional[str]) -> str:
  mine = [r for r in runs if r.language == language]
  tasks = [t for r in mine for t in r.probes.tasks]
  if explicit:
    return explicit
  for key in ("report", "adversarial"):
    recorded = [(r.config.get(key) or {}).get("primary_task" if key == "report" else "task") for r in mine]
    recorded = [t for t in recorded if t]
    if recorded:
      if len(set(recorded)) > 1:
        raise ValueError(f"runs of {language!r} record different primary tasks {sorted(set(recorded))}; set "
                         "--config.report.primary_task")
      return recorded[0]
  return tasks[0] if tasks else ""


def declare(settings: Settings, runs) -> Declaration:
  """The report's family from its settings and the runs' records (ValueError when the runs disagree on the margin
  or a language's primary task and the settings do not decide)."""
  if settings.claims is not None:
    claims, source = parse(settings.claims), f"{settings.source} (report.claims)"
  else:
    recorded = _recorded(runs, "claims")
    if recorded:
      claims = parse(",".join(recorded), "the runs' recorded report.claims")
      names = sorted({str(r.config.get("name", "")) for r in runs if (r.config.get("report") or {}).get("claims")
                      is not None} - {""})
      source = "the experiment config" + (f" ({', '.join(names)})" if names else "") + " (report.claims)"
    else:
      claims, source = tuple(CLAIMS), "default: every claim (no experiment declared a family)"
  margin = settings.equal_loss_margin
  if margin is None:
    recorded = _recorded(runs, "equal_loss_margin")
    if len(recorded) > 1:
      raise ValueError(f"runs record different report.equal_loss_margin values {sorted(recorded)}; set "
                       "--config.report.equal_loss_margin")
    margin = float(next(iter(recorded))) if recorded else DEFAULT_MARGIN
  languages = list(dict.fromkeys(r.language for r in runs))
  primary = {lang: _primary(runs, lang, settings.primary_task) for lang in languages}
  return Declaration(claims, source, float(margin), primary)
