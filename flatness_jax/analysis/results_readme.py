"""results/README.md: the answer, generated from the findings of every committed experiment × language.

Per tier (most expensive first): one table of the paper's claims (rows: a claim as one experiment tests it) ×
languages (columns), each cell the paper's figure, ours with its 95% interval, the pre-training seeds per arm, the
verdict after the family's correction and the smallest effect the design could detect; then the reviewers' two
questions with the rows that answer them; the paper's figures per language; each experiment's command, tier,
seeds, runtime (the per-stage account's total) and commit; and the cells the tier lacks with their estimated cost.
"""
import dataclasses

from flatness_jax.analysis import claims as claims_lib, findings_tables, stage_account

TIER_ORDER = ("paper", "gpu", "cpu", "tiny")
TIER_NOTES = {
    "tiny": "The tiny tier runs every experiment with seconds-long budgets (40 steps, 2 seeds): it checks the "
            "pipeline end to end and is not a measurement; its verdicts say so (models far from the optimal loss).",
    "cpu": "The cpu tier: the saturation recipes on 2 CPU cores, 3 pre-training seeds per arm.",
    "gpu": "The gpu tier: the cpu tier's recipes with 5 pre-training seeds per arm.",
    "paper": "The paper tier: 5 pre-training seeds per arm at the paper's batch size.",
}
QUESTIONS = (("Is flatness just size? (flatness at fixed size, and beyond log(parameters))",
              ("flatness_beyond_size", "flatter")),
             ("Pre-training flatness or downstream flatness?", ("downstream_flatness",)))


@dataclasses.dataclass(frozen=True)
class Cell:
  """One experiment × language of a tier, as committed: where its report is, how it was made, its findings."""
  experiment: str
  language: str
  command: str
  seeds: int
  commit: str
  account: dict             # stage -> seconds (stage_account.STAGES)
  findings: object          # rows.Findings
  path: str                 # the cell's directory relative to results/


@dataclasses.dataclass(frozen=True)
class Missing:
  experiment: str
  language: str
  command: str
  estimate: dict            # stage -> seconds (the plan's)
  source: str
  stale: str = ""           # what a committed record this cell supersedes ran (jobs.tier.stale_record), or ''
  runs: int = 0             # the runs its plan trains


@dataclasses.dataclass(frozen=True)
class Tier:
  name: str
  cells: tuple
  missing: tuple
  figures: dict             # language -> [path relative to results/]
  languages: tuple


def cell(text: str) -> str:
  """`text` safe inside a markdown table cell (its '|' escaped)."""
  return text.replace("|", "\\|")


def _cell_text(row, rerun=None) -> str:
  """One answer: the paper, ours, n, verdict, detectable; for a stale record (`rerun`: its Missing) which recipe it
  ran and which the tier runs now."""
  parts = [f"paper: {row.paper}", f"ours: {findings_tables.value(row)}", f"n: {row.n}", findings_tables.verdict(row),
           f"detectable: {findings_tables._detectable(row)}"]  # pylint: disable=protected-access
  if rerun is not None:
    parts.append(f"stale: ran {rerun.stale}; the tier now runs `{rerun.command}`")
  return cell("<br>".join(parts))


def claim_rows(tier: Tier) -> dict:
  """{(claim id, experiment): {language: confirmatory Row}}, claims in claims.CLAIMS order."""
  table = {}
  for cell in tier.cells:
    for row in cell.findings.confirmatory:
      table.setdefault((row.claim, cell.experiment), {}).setdefault(cell.language, row)
  order = list(claims_lib.CLAIMS)
  return dict(sorted(table.items(), key=lambda kv: (order.index(kv[0][0]) if kv[0][0] in order else len(order),
                                                    kv[0][1])))


def _stale(tier: Tier) -> dict:
  """{(experiment, language): Missing} of the cells whose committed record ran a superseded command."""
  return {(m.experiment, m.language): m for m in tier.missing if m.stale}


def _answer_table(tier: Tier) -> list[str]:
  langs = tier.languages
  lines = ["| claim (experiment) | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]
  stale = _stale(tier)
  for (claim, exp), by_lang in claim_rows(tier).items():
    title = claims_lib.CLAIMS[claim].title if claim in claims_lib.CLAIMS else claim
    cells = [_cell_text(by_lang[lang], stale.get((exp, lang))) if lang in by_lang else "—" for lang in langs]
    lines.append(f"| {cell(title)} ({exp}) | " + " | ".join(cells) + " |")
  return lines


def _questions(tier: Tier) -> list[str]:
  table = claim_rows(tier)
  stale = _stale(tier)
  lines = []
  for question, ids in QUESTIONS:
    lines += [f"**{question}**", ""]
    found = [(exp, lang, row) for (claim, exp), by_lang in table.items() if claim in ids
             for lang, row in sorted(by_lang.items(), key=lambda kv: tier.languages.index(kv[0]))]
    lines += [f"- {lang}, {exp}: {row.title}: {findings_tables.value(row)} — {findings_tables.verdict(row)}"
              + (f" (stale: ran {stale[exp, lang].stale})" if (exp, lang) in stale else "")
              for exp, lang, row in found] or ["- no committed experiment declares these claims yet"]
    lines.append("")
  return lines


def _minutes(account: dict) -> str:
  return stage_account.minutes(sum(account.values()))


def tier_lines(tier: Tier) -> list[str]:
  lines = [f"## Tier `{tier.name}`", "", TIER_NOTES.get(tier.name, ""), "",
           f"The per-stage account (training, compilation, curvature, probes, report): [{tier.name}/stages.md]"
           f"({tier.name}/stages.md); the training steps before and after each run is within the saturation gap: "
           f"[{tier.name}/steps.md]({tier.name}/steps.md).", "", "### The paper's claims × languages", ""]
  if tier.cells:
    lines += _answer_table(tier)
    lines += ["", "Each cell: the paper's figure; ours with its 95% interval over pre-training runs; n; the "
              "verdict after Holm's correction over the experiment's declared family; the smallest effect the "
              "design detects with 80% power. Rows per experiment: each experiment tests its own family.", "",
              "### The reviewers' two questions", ""] + _questions(tier)
  else:
    lines += ["No cell of this tier is committed yet.", ""]
  if tier.figures:
    lines += ["### The paper's figures", ""]
    for lang in tier.languages:
      for path in tier.figures.get(lang, ()):
        lines.append(f"- {lang}: [{path.rsplit('/', 1)[-1]}]({path})")
    lines.append("")
  lines += ["### Experiments", "", "| experiment | language | command | tier | seeds | runtime min | commit | report |",
            "|---|---|---|---|---|---|---|---|"]
  for c in tier.cells:
    lines.append(f"| {c.experiment} | {c.language} | `{c.command}` | {tier.name} | {c.seeds} | {_minutes(c.account)} "
                 f"| {c.commit} | [report]({c.path}/report.md) |")
  if tier.missing:
    total = sum(sum(m.estimate.values()) for m in tier.missing)
    head = "Missing or stale cells" if any(m.stale for m in tier.missing) else "Missing cells"
    lines += ["", f"### {head} ({len(tier.missing)}, estimated {stage_account.minutes(total)} min)", "",
              "| experiment | language | command | estimated min | estimate from |", "|---|---|---|---|---|"]
    lines += [f"| {m.experiment} | {m.language} | `{m.command}` | {_minutes(m.estimate)} | {m.source} |"
              for m in tier.missing]
  return lines + [""]


def build(tiers) -> str:
  """The text of results/README.md for the committed tiers."""
  tiers = sorted(tiers, key=lambda t: TIER_ORDER.index(t.name) if t.name in TIER_ORDER else len(TIER_ORDER))
  lines = ["# Results: the paper, answered", "",
           "Generated from the compact run records below this directory by `python -m experiments.main "
           "--config=configs/report.py:results` (never edited by hand; a test rebuilds it byte for byte). A tier "
           "is run by `python -m experiments.main --config=configs/paper.py:<tier> --workdir=runs/paper_<tier>`.", "",
           "Liu, Xie, Li, Ma (ICML 2023), *Same Pre-training Loss, Better Downstream*: at equal pre-training loss, "
           "continued training, larger models and the training algorithm change downstream accuracy, and flatter "
           "is better. Each tier below tests those claims on four languages with exactly known optimal loss.", "",
           "Tiers: " + ", ".join(f"[{t.name}](#tier-{t.name})" for t in tiers) + ".", ""]
  for tier in tiers:
    lines += tier_lines(tier)
  return "\n".join(lines).rstrip("\n") + "\n"
