"""The typed record of every row of a report: what findings.json holds beside report.md, and its one reader.

A `Row` is one comparison or correlation: the claim it belongs to (a claims.CLAIMS id for confirmatory rows, a
quantity name for exploratory ones), the language and task, the estimate with its interval (at `level`), n, the
gates it passed or failed, and for confirmatory rows the p-value, its Holm-adjusted value, the verdict (kind and
reason), the smallest effect the design could detect at 80% power at the family's per-row level, and the
pre-training runs per arm an effect of the paper's size would need. Exploratory rows carry numbers and intervals
and no verdict (`verdict` ''). `Findings` is the whole document: the family and every row.

findings.json is written by flatness_jax.jobs.report (`Findings.to_json`) and read back by `read` only.
"""
import dataclasses
import json
from typing import Optional

from flatness_jax.analysis import gates as gates_lib

FILE = "findings.json"
DIGITS = {"pts": 1, "Tr(H)": 2, "% of L*": 2, "ρ": 2, "r": 2, "slope": 2}  # decimals a row's unit is shown with
VERSION = 1
NAN = float("nan")


def _num(v) -> float:
  return NAN if v is None else float(v)


@dataclasses.dataclass(frozen=True)
class Row:
  claim: str
  title: str
  language: str
  confirmatory: bool
  estimate: float
  low: float
  high: float
  level: float              # confidence level of [low, high]
  unit: str                 # 'pts' (accuracy points), '% of L*', 'Tr(H)', 'ρ', 'r', 'slope'
  n: str                    # runs behind the interval, in words
  runs: int                 # resampled or compared pre-training runs (0: a single measurement)
  task: str = ""
  detail: str = ""
  paper: str = "—"
  gates: tuple = ()         # gates_lib.Gate
  p_value: float = NAN      # two-sided, unadjusted
  p_adjusted: float = NAN   # Holm over the family
  verdict: str = ""         # a records.Verdict kind; '' for an exploratory row
  reason: str = ""          # why untested, or what a null interval excludes
  detectable: float = NAN   # smallest |effect| detected with 80% power at the family's per-row level, in `unit`
  paper_effect: float = NAN  # the paper's effect in `unit`, where it gives one
  runs_needed: Optional[int] = None  # pre-training runs per arm for the paper's effect (None: not computable)
  correction: str = ""

  @property
  def note(self) -> str:
    """The failed gates of the row, in words ('' when it passed them all)."""
    return "; ".join(g.text for g in self.gates if not g.ok)

  def to_json(self) -> dict:
    out = dataclasses.asdict(self)
    out["gates"] = [g.to_json() for g in self.gates]
    return out

  @classmethod
  def from_json(cls, d: dict) -> "Row":
    names = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for k, v in d.items():
      if k not in names:
        continue
      if names[k].type in ("float", float):
        v = _num(v)
      values[k] = v
    values["gates"] = tuple(gates_lib.Gate.from_json(g) for g in d.get("gates", ()))
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class Findings:
  """findings.json: the family (claims, where declared, correction, level, margin, seed design, size) and rows."""
  claims: tuple
  source: str
  correction: str
  level: float
  margin: float
  seed_design: str
  size: int
  primary: dict
  rows: tuple

  @property
  def confirmatory(self) -> list:
    return [r for r in self.rows if r.confirmatory]

  def to_json(self) -> dict:
    return {"version": VERSION, "family": {"claims": list(self.claims), "source": self.source,
                                           "correction": self.correction, "level": self.level,
                                           "equal_loss_margin": self.margin, "seed_design": self.seed_design,
                                           "size": self.size, "primary_tasks": dict(self.primary)},
            "rows": [r.to_json() for r in self.rows]}

  @classmethod
  def from_json(cls, doc: dict) -> "Findings":
    if doc.get("version") != VERSION:
      raise ValueError(f"{FILE}: version {doc.get('version')!r}, expected {VERSION}")
    f = doc["family"]
    return cls(tuple(f["claims"]), f["source"], f["correction"], _num(f["level"]), _num(f["equal_loss_margin"]),
               f["seed_design"], int(f["size"]), dict(f.get("primary_tasks", {})),
               tuple(Row.from_json(r) for r in doc["rows"]))


def read(path: str) -> Findings:
  """The Findings of a findings.json (ValueError naming the file when it is not one)."""
  with open(path) as f:
    try:
      return Findings.from_json(json.load(f))
    except (KeyError, TypeError, ValueError) as e:
      raise ValueError(f"{path} is not a findings.json of this version: {e}") from None


def unit_suffix(unit: str) -> str:
  """' pts' / ' Tr(H)' / ' % of L*' after a number; '' for correlations and slopes."""
  return "" if unit in ("ρ", "r", "slope") else f" {unit}"


def number(x: float, unit: str) -> str:
  """x signed, with the decimals of its unit."""
  return f"{x:+.{DIGITS.get(unit, 2)}f}"
