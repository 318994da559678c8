"""Several model sizes on one language: the CPU quickstart's training stage (Liu et al. 2023, §3: larger models
at the same pre-training loss). Each size is an ordinary run directory `workdir/<size>`."""
import os

from flatness_jax.train import loop


def size_config(config, size: str):
  """The single-run config of one size: `config` with model.preset = size and job 'train'."""
  sub = config.copy_and_resolve_references()
  with sub.unlocked():
    sub.job, sub.name = "train", size
    sub.model.preset = size
    if "sizes" in sub:
      del sub["sizes"]
  return sub


def train_sizes(config, workdir: str) -> dict:
  """Trains every preset in `config.sizes` (comma-separated) in turn; returns {size: summary}."""
  sizes = [s.strip() for s in config.sizes.split(",") if s.strip()]
  if not sizes:
    raise ValueError("sizes is empty: name at least one model preset, e.g. --config.sizes=cpu_s,cpu_m")
  subs = {s: size_config(config, s) for s in sizes}
  for s, sub in subs.items():  # validate every size before training any
    loop.config_checks.validate_train_config(sub)
  return {s: loop.train_and_evaluate(sub, os.path.join(workdir, s)) for s, sub in subs.items()}


def format_table(summaries: dict) -> str:
  """A markdown table: size, parameters, steps, gap ± SE (nats and % of L*), accuracy, wall time."""
  lines = ["| size | params | steps | loss | optimal | gap (nats) ± SE | gap % of L* | masked-token acc "
           "(Bayes) | wall s |", "|---|---|---|---|---|---|---|---|---|"]
  for s, r in summaries.items():
    lines.append(f"| {s} | {r['num_params']:,} | {r['steps']} | {r['final_loss']:.4f} | {r['optimal_loss']:.4f} "
                 f"| {r['final_gap']:.4f} ± {r['final_gap_se']:.4f} | {100 * r['final_gap_relative']:.2f} ± "
                 f"{100 * r['final_gap_relative_se']:.2f} | {r['final_accuracy']:.3f} ({r['bayes_accuracy']:.3f})"
                 f" | {r['wall_seconds']:.0f} |")
  return "\n".join(lines)
