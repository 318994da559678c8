"""Resource plan: `python -m experiments.plan --config=configs/NAME.py[:arg] [--mesh=data:256,model:1]
[--hardware=tpu_v5e|h100|cpu] [--mfu=0.4] [--fsdp=true|false]`, or `python -m experiments.plan --all_sizes`.

Prints, for the config's model, data (vocabulary and length), global batch and the mesh: the exact parameter count,
bytes per device of parameters, gradients, AdamW moments and activations (with and without FSDP as the config or
--fsdp says), FLOPs per step and an estimated step time (flatness_jax/parallel/resources.py has the formulas). Nothing is
allocated, so a 256-chip plan runs on a laptop in seconds. `--all_sizes` prints the table of every bert_* preset
at the paper's PCFG shape (V=200, L=32, batch 4096) on a TPU v5e-256 and on 8 x H100, with FSDP.
"""
import os
import sys

from absl import app, flags
from ml_collections import config_flags

from experiments import config_path


_resolve_config_argv = config_path.resolve_config_argv


config_flags.DEFINE_config_file("config", None, "Path to a config file (configs/NAME.py[:arg]).")
flags.DEFINE_string("mesh", "", "Mesh sizes 'data:N,model:M' (default: data = the hardware's usual slice).")
flags.DEFINE_enum("hardware", "tpu_v5e", ["tpu_v5e", "h100", "cpu"], "Device type for memory and step time.")
flags.DEFINE_float("mfu", 0.4, "Assumed model FLOP utilisation for the step-time estimate.")
flags.DEFINE_enum("fsdp", "", ["", "true", "false"], "Override config.parallel.fsdp.")
flags.DEFINE_integer("vocab_size", 0, "Override the vocabulary (default: from config.data).")
flags.DEFINE_integer("max_length", 0, "Override the sequence length (default: config.model.max_length or data).")
flags.DEFINE_bool("all_sizes", False, "Print the table of every bert_* preset at the paper PCFG shape.")
FLAGS = flags.FLAGS

DEFAULT_MESH = {"tpu_v5e": "data:256,model:1", "h100": "data:8,model:1", "cpu": "data:1,model:1"}


def _data_shape(config):
  """(vocab_size, max_length) of the config's language, unless both are given as flags (an LM language's from its
  fields: V ≤ K + 2, no weights loaded)."""
  vocab, length = FLAGS.vocab_size, FLAGS.max_length or config.model.get("max_length", 0)
  if not (vocab and length) and config.data.get("kind") == "lm":
    from flatness_jax.data import lm_config  # pylint: disable=g-import-not-at-top
    lm_vocab, lm_length = lm_config.shape(config.data)
    vocab, length = vocab or lm_vocab, length or lm_length
  if not (vocab and length):
    from flatness_jax import data as data_lib  # pylint: disable=g-import-not-at-top
    language = data_lib.make_language(config.data)
    vocab, length = vocab or language.vocab_size, length or language.max_length
  return vocab, length


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from flatness_jax.parallel import resources as plan  # pylint: disable=g-import-not-at-top
  if FLAGS.all_sizes:
    print(plan.all_sizes_table(mfu=FLAGS.mfu))
    return
  if FLAGS.config is None:
    raise app.UsageError("give --config=configs/NAME.py (or --all_sizes)")
  config = FLAGS.config
  vocab, length = _data_shape(config)
  mesh = plan.parse_mesh(FLAGS.mesh or DEFAULT_MESH[FLAGS.hardware])
  fsdp = config.parallel.fsdp if not FLAGS.fsdp else FLAGS.fsdp == "true"
  result = plan.make_plan(config.model, vocab, length, config.train.batch_size, mesh, fsdp, FLAGS.hardware,
                          FLAGS.mfu, masking=config.train.get("masking", "one"), name=config.get("name", ""))
  print(plan.format_plan(result))
  other = plan.make_plan(config.model, vocab, length, config.train.batch_size, mesh, not fsdp, FLAGS.hardware,
                         FLAGS.mfu, masking=config.train.get("masking", "one"))
  print(f"  with fsdp={other.fsdp} instead: {other.total_bytes / plan.GiB:.3f} GiB per device "
        f"({'fits' if other.fits else 'does not fit'}), est. step {other.step_seconds * 1e3:.3g} ms")
  if config.data.get("kind") == "lm":
    print(_lm_plan(config))


def _lm_plan(config) -> str:
  """The LM language's costs (flatness_jax/parallel/lm_resources.py): exact L*, held-out pairs, default S, sampling."""
  from flatness_jax.data import lm_config  # pylint: disable=g-import-not-at-top
  from flatness_jax.parallel import lm_resources as lm_plan  # pylint: disable=g-import-not-at-top
  r = lm_config.resolve(config.data, require_checkpoint=False)
  card = config.get("card", {}).get("num_sentences", 0) or config.get("num_sentences", 0)
  return lm_plan.format_lm_plan(lm_plan.LMPlan(
      cfg=lm_config.decoder_shape(config.data), num_tokens=r["num_tokens"], length=r["max_length"],
      frequency_sentences=0 if r["token_ids"] else r["frequency_sentences"], card_sentences=card,
      heldout_pairs=config.eval.num_pairs, batch=config.train.batch_size, hardware=FLAGS.hardware, mfu=FLAGS.mfu,
      prompts=r["num_prompts"], prompt_length=r["prompt_length"]))


if __name__ == "__main__":
  sys.argv = _resolve_config_argv(sys.argv)
  app.run(main)
