"""Linear-probe accuracies (paper protocol) of a trained run's checkpoints, with majority, Bayes and lookup-table
references, written to <run>/probes.json.

Command:  python -m experiments.main --config=configs/probes.py --workdir=runs/quickstart/cpu_s
          (--workdir is the run directory; --config.probes.steps=all for every checkpoint)
Runtime:  about 20 s per checkpoint and task for the quickstart's models on 2 CPU cores (5 seeds × 100 epochs).
Reaches:  probe accuracy between the majority and the Bayes-optimal accuracy of each task.
Fine-tuning (--config.probes.finetune=True) also fine-tunes the whole encoder with a fresh linear head per task
(flatness_jax.eval.finetune; AdamW lr 1e-4, linear warmup then decay, test accuracy at the best validation epoch)
and writes steps[step]["finetune"][task]; it is much slower than a probe (every step trains the encoder, per seed).
"""
import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.job = "probes"
  c.name = "probes"
  c.probes = ml_collections.ConfigDict()
  c.probes.steps = "last"        # 'last', 'all', or comma-separated checkpointed steps.
  c.probes.tasks = "A,B,C"       # Tasks of the language ('all' for every one it defines).
  c.probes.num_examples = 4000   # Labelled sentences, split 70/10/20 into train/validation/test.
  c.probes.seeds = 5             # Probe seeds (paper: 5); accuracy is mean ± std over them.
  c.probes.epochs = 100          # Probe epochs (paper: 100); the test accuracy is taken at the best val epoch.
  c.probes.learning_rate = 1e-3  # AdamW learning rate (paper: 1e-3).
  c.probes.batch_size = 256      # Probe minibatch.
  c.probes.pooling = "concat"    # 'concat': concatenated token representations (paper); 'mean': mean-pooled.
  c.probes.lookup = True         # Also probe the exact conditionals (the lookup-table baseline).
  c.probes.seed = 2024           # Seed of the labelled sentences and the split (a run of an arm draws its own from
  #                                it: flatness_jax.eval.probing.probe_seed).
  c.probes.finetune = False      # Also fine-tune the whole encoder + a linear head per task (slow; off by default).
  c.probes.finetune_epochs = 30  # Fine-tuning epochs; the test accuracy is taken at the best validation epoch
                                 # (10 epochs on 1,000 sentences left the small models far from converged).
  c.probes.finetune_learning_rate = 1e-4  # Peak AdamW learning rate (paper: 1e-4), 10% linear warmup, linear decay.
  c.probes.finetune_batch_size = 32       # Fine-tuning minibatch.
  c.probes.finetune_pooling = "mean"  # Sentence representation under the head: 'mean' (real tokens) or 'first'.
  c.probes.finetune_seeds = 5    # Fine-tuning seeds (paper: 5; head init and minibatch order); mean ± std over them.
  c.probes.finetune_examples = 2000  # The first this many sentences of each probe split (same 70/10/20 proportions;
                                     # at most num_examples, where fine-tuning sees the probe's own split).
  return c
