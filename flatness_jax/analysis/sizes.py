"""Model size at equal loss, in each model's own parameterization and in one (Liu et al. 2023, §3 and §5).

Hessian traces of models of different sizes are not directly comparable: the trace sums over parameters, so more
parameters can mean a larger trace for the same function. The curvature job can therefore also measure Tr(H) after
embedding each model into the largest architecture without changing its function (`curvature.embed_into`,
flatness_jax.models.embed); this module tabulates both for every run at its final checkpoint. The size verdicts
(largest minus smallest arm, over pre-training seeds) are in flatness_jax.analysis.findings.
"""
import numpy as np

from flatness_jax.analysis.tables import pm
from flatness_jax.rundir import records


def final_points(pts) -> list:
  """The newest measured point of every run, in order of parameter count."""
  finals = {}
  for p in pts:
    if p.run not in finals or p.step > finals[p.run].step:
      finals[p.run] = p
  return sorted(finals.values(), key=lambda p: p.num_params)


def size_lines(pts, tasks, trace_key: str) -> list[str]:
  """Markdown table of every run's final checkpoint by size (runs of unknown size, num_params 0, left out), or []
  when fewer than two sizes were measured."""
  finals = [p for p in final_points(pts) if p.num_params and np.isfinite(p.trace(trace_key)[0])]
  if len({p.num_params for p in finals}) < 2:
    return []
  into = next((p.curvature.embedded_into for p in finals if p.curvature.embedded.present), None)
  embedded_cols = [f"Tr(H) embedded in {into}", "embedded − own loss"] if into else []
  head = ["run", "step", "params", "gap % of L*", "Tr(H) own"] + embedded_cols + ["Fisher Tr"]
  head += [f"acc {t} %" for t in tasks]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for p in finals:
    c = p.curvature
    acc = [p.accuracy(t) for t in tasks]
    cells = [p.run, str(p.step), f"{p.num_params:,}",
             pm(p.eval.gap_relative, p.eval.gap_relative_se, 100), pm(*p.trace(trace_key))]
    if into:
      cells += [pm(c.embedded.value, c.embedded.stderr),
                f"{c.embedded_loss - c.loss:+.1e}" if c.embedded.present else "–"]
    cells.append(pm(*p.trace(records.FISHER)))
    cells += [pm(m, s, 100, 1) for m, s, _ in acc]
    lines.append("| " + " | ".join(cells) + " |")
  return lines
