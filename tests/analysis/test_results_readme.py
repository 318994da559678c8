"""results/README.md from findings: the claims × languages table with the paper's figure, ours with its interval,
n, verdict and detectable effect per cell; the reviewers' questions with their rows; commands and missing cells."""
import dataclasses

from flatness_jax.analysis import results_readme, rows

NAN = float("nan")


def _row(claim, lang, estimate, low, high, verdict, reason="", detectable=NAN, unit="pts"):
  return rows.Row(claim=claim, title=claim, language=lang, confirmatory=True, estimate=estimate, low=low, high=high,
                  level=0.975, unit=unit, n="3 vs 3 seeds", runs=6, paper="+6.9", verdict=verdict, reason=reason,
                  detectable=detectable)


def _findings(*rs):
  return rows.Findings(("size",), "test", "Holm", 0.05, 0.005, "independent", len(rs), {}, tuple(rs))


def _tier():
  size_pcfg = results_readme.Cell("model_size", "pcfg", "configs/model_size.py:pcfg,seeds=3", 3, "abc123",
                                  {"training": 600.0, "curvature": 60.0},
                                  _findings(_row("size", "pcfg", 1.5, 0.4, 2.6, "reproduced", detectable=1.1),
                                            _row("flatness_beyond_size", "pcfg", -0.2, -0.9, 0.8,
                                                 "not significant at this scale", unit="r")),
                                  "cpu/model_size/pcfg")
  size_hmm = results_readme.Cell("model_size", "hmm", "configs/model_size.py:hmm,long,seeds=3", 3, "abc123",
                                 {"training": 1200.0}, _findings(_row("size", "hmm", NAN, NAN, NAN, "untested",
                                                                      reason="not at equal loss | Δgap")),
                                 "cpu/model_size/hmm")
  missing = results_readme.Missing("algorithms", "lm", "configs/algorithms.py:lm,adversarial,seeds=3",
                                   {"training": 1500.0, "curvature": 300.0}, "cost model")
  return results_readme.Tier("cpu", (size_pcfg, size_hmm), (missing,), {"pcfg": ["cpu/figures/pcfg_fig2_size.png"]},
                             ("pcfg", "hmm", "released", "lm"))


def test_the_answer_table_has_one_row_per_claim_and_one_column_per_language():
  text = results_readme.build([_tier()])
  table = [l for l in text.splitlines() if l.startswith("| Larger is better")]
  assert len(table) == 1
  cells = table[0].replace("\\|", "¦").split(" | ")
  assert len(cells) == 5  # the claim and four languages
  assert "paper: +6.9<br>ours: +1.5 [+0.4, +2.6] pts<br>n: 3 vs 3 seeds<br>**reproduced**<br>detectable: ±1.1 pts" \
      in cells[1]
  assert "untested: not at equal loss ¦ Δgap" in cells[2]  # a '|' inside a cell is escaped: the table holds
  assert cells[3] == "—" and cells[4] == "— |"
  beyond = next(l for l in text.splitlines() if l.startswith("| Flatness beyond size"))
  assert "acc \\| log params" in beyond and len(beyond.replace("\\|", "¦").split(" | ")) == 5


def test_questions_commands_and_missing_cells_are_stated():
  text = results_readme.build([_tier()])
  assert "- pcfg, model_size: flatness_beyond_size: -0.20 [-0.90, +0.80] — **not significant at this scale**" in text
  assert "| model_size | hmm | `configs/model_size.py:hmm,long,seeds=3` | cpu | 3 | 20.0 | abc123 |" in text
  assert "### Missing cells (1, estimated 30.0 min)" in text
  assert "| algorithms | lm | `configs/algorithms.py:lm,adversarial,seeds=3` | 30.0 | cost model |" in text
  assert "[pcfg_fig2_size.png](cpu/figures/pcfg_fig2_size.png)" in text


def test_tiers_are_ordered_by_cost_and_an_empty_tier_says_so():
  empty = results_readme.Tier("tiny", (), (), {}, ("pcfg",))
  text = results_readme.build([empty, _tier()])
  assert text.index("## Tier `cpu`") < text.index("## Tier `tiny`")
  assert "No cell of this tier is committed yet." in text


def test_a_stale_cell_says_in_its_answer_which_recipe_it_ran_and_is_listed_to_run():
  base = _tier()
  rerun = results_readme.Missing("model_size", "pcfg", "configs/model_size.py:pcfg,long,seeds=3",
                                 {"training": 600.0},
                                 "cost model; the committed record ran `configs/model_size.py:pcfg,seeds=3`",
                                 stale="`configs/model_size.py:pcfg,seeds=3`")
  text = results_readme.build([dataclasses.replace(base, missing=base.missing + (rerun,))])
  size = next(l for l in text.splitlines() if l.startswith("| Larger is better")).replace("\\|", "¦").split(" | ")
  assert "stale: ran `configs/model_size.py:pcfg,seeds=3`; the tier now runs " \
      "`configs/model_size.py:pcfg,long,seeds=3`" in size[1]
  assert "stale" not in size[2]
  assert next(l for l in text.splitlines() if l.startswith("- pcfg, model_size:")).endswith(
      "(stale: ran `configs/model_size.py:pcfg,seeds=3`)")
  assert "### Missing or stale cells (2, estimated 40.0 min)" in text
  assert "stale" not in results_readme.build([base])
