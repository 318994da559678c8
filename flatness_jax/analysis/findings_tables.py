"""The Findings section of report.md from a rows.Findings: what the family is and how it is corrected, the
confirmatory rows with their gates, power and verdicts, the exploratory rows with numbers only, and one line per
row for the full list."""
import numpy as np

from flatness_jax.analysis import gates, replicates, rows as rows_lib
from flatness_jax.rundir import records

GATE_NAMES = {"equal loss": "loss", "at a minimum": "minimum", "converged": "converged", "runs": "runs"}
SEED_DESIGNS = {
    replicates.INDEPENDENT: "independent streams: every run has its own initialisation, data stream, masks, "
                            "adversary split and probe data (flatness_jax.train.arms), so runs are independent "
                            "replicates; differences are Welch intervals over seeds and correlations resample "
                            "whole runs",
    replicates.PAIRED: "paired: runs of different arms share a pre-training seed (run directories of the earlier "
                       "design, where seed k of every arm used the same streams); differences are paired by seed "
                       "(one-sample t over per-seed differences) and correlations resample whole seed blocks",
}


def value(row: rows_lib.Row) -> str:
  """'+est [+low, +high] unit' of a row ('[no interval]' when it has none)."""
  d = rows_lib.DIGITS.get(row.unit, 2)
  if not np.isfinite(row.estimate):
    return "–"
  if not (np.isfinite(row.low) and np.isfinite(row.high)):
    return f"{row.estimate:+.{d}f} [no interval]{rows_lib.unit_suffix(row.unit)}"
  return f"{row.estimate:+.{d}f} [{row.low:+.{d}f}, {row.high:+.{d}f}]{rows_lib.unit_suffix(row.unit)}"


def _gates(row) -> str:
  return ", ".join(f"{GATE_NAMES.get(g.name, g.name)} {'✓' if g.ok else '✗'}" for g in row.gates) or "–"


def _p(row) -> str:
  if not np.isfinite(row.p_value):
    return "–"
  return f"{row.p_value:.2g} ({row.p_adjusted:.2g})"


def _detectable(row) -> str:
  if not np.isfinite(row.detectable):
    return "–"
  if row.unit in ("ρ", "r"):
    return f"|{row.unit}| ≥ {row.detectable:.2f}"
  return f"±{row.detectable:.{rows_lib.DIGITS.get(row.unit, 2)}f}{rows_lib.unit_suffix(row.unit)}"


def _needed(row) -> str:
  if not np.isfinite(row.paper_effect):
    return "— (no effect size in the paper)"
  if row.runs_needed is None:
    return "— (needs a between-seed SD)" if row.verdict == records.UNTESTED else "> 10,000 per arm"
  return f"{row.runs_needed} per arm (paper {row.paper_effect:+g}{rows_lib.unit_suffix(row.unit)})"


def verdict(row) -> str:
  """The verdict cell: **kind** (untested: why; not significant: what it excludes)."""
  if row.verdict == records.UNTESTED:
    return f"**{records.UNTESTED}: {row.reason}**"
  return f"**{row.verdict}**" + (f" ({row.reason})" if row.reason else "")


def _title(row) -> str:
  return f"{row.title} ({row.detail})" if row.detail else row.title


def family_lines(f: rows_lib.Findings, designs: dict) -> list[str]:
  """The statement of the family, its correction, its gates and the seed design."""
  m = len(f.confirmatory)
  primary = ", ".join(f"{lang or '(no language)'}: {task or '–'}" for lang, task in f.primary.items())
  if m:
    head = (f"Confirmatory family: {m} row(s), one per declared claim and language on the primary task "
            f"({primary}); claims {', '.join(f.claims)}, declared by {f.source}. Only these rows carry verdicts, "
            f"after {f.correction}'s correction over the family at a family-wise level of {100 * f.level:g}%: each "
            f"row's interval is at the level Holm's step gives it (between {100 * (1 - f.level):g}% and "
            f"{100 * (1 - f.level / m):.2f}%), so it excludes zero exactly when the row is significant, and a null "
            "row's interval bounds the effects the family's test excludes. 'Detectable' is the smallest effect "
            f"this design detects with 80% power at {f.level:g}/{m} (what a lone effect must clear under Holm), "
            "from the measured between-seed SD; 'runs for the paper's effect' the pre-training runs per arm an "
            "effect of the paper's size would need at that power and level. Untested rows count in the family.")
  else:
    head = ("No confirmatory family was declared (report.claims is empty): every row is exploratory, with numbers "
            "and intervals and no verdicts.")
  gates_text = (f"Gates before any verdict: equal loss = the 90% interval of Δgap inside ±{100 * f.margin:.2f}% of "
                "L* (two one-sided tests at 5%); at a minimum = every compared checkpoint's Tr(H) positive, its "
                "lower 95% bound above zero and not below its top Ritz value λmax; converged = correlations over "
                "checkpoints within the saturation gap and at a minimum; runs = ≥ 2 seeds per arm, ≥ "
                f"{gates.MIN_CLUSTERS} runs and {gates.MIN_POINTS} checkpoints per correlation.")
  kinds = sorted(set(designs.values()))
  if len(kinds) == 1:
    seed = f"Seed design: {SEED_DESIGNS[kinds[0]]}."
  else:
    seed = "Seed design: " + "; ".join(f"{lang}: {SEED_DESIGNS[k]}" for lang, k in designs.items()) + "."
  return [head, "", gates_text, "", seed]


def confirmatory_table(f: rows_lib.Findings) -> list[str]:
  lines = ["| claim | language | paper | ours | level | n | gates | p (Holm) | detectable (80% power) | runs for "
           "the paper's effect | verdict |", "|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in f.confirmatory:
    lines.append(f"| {_title(r)} | {r.language} | {r.paper} | {value(r)} | {100 * r.level:.2f}% | {r.n} | "
                 f"{_gates(r)} | {_p(r)} | {_detectable(r)} | {_needed(r)} | {verdict(r)} |")
  return lines


def exploratory_table(f: rows_lib.Findings) -> list[str]:
  lines = ["| quantity | language | paper | ours (95% CI) | n | note |", "|---|---|---|---|---|---|"]
  for r in f.rows:
    if not r.confirmatory:
      lines.append(f"| {_title(r)} | {r.language} | {r.paper} | {value(r)} | {r.n} | {r.note or '–'} |")
  return lines


def line(r: rows_lib.Row) -> str:
  """One row as a list item (confirmatory: with its verdict; exploratory: numbers and its failed gates)."""
  if r.confirmatory:
    return f"- {_title(r)}, {r.language}: {value(r)} → {verdict(r)} (paper: {r.paper}; n: {r.n})."
  note = f"; {r.note}" if r.note else ""
  return f"- {_title(r)}, {r.language}: {value(r)} (exploratory; n: {r.n}{note})."
