"""The data card: what a language is, in numbers (the 'data_card' job, flatness_jax.jobs.data_card, records it).

For `num_sentences` sentences drawn with `sample_seed` it reports the optimal loss of the one-mask objective
(sentence-weighted L*, the paper's, and token-weighted, with standard errors; flatness_jax.data.language), the
sentence lengths, and for every downstream task the number of classes, the majority-class accuracy and the
Bayes-optimal accuracy (the exact-posterior argmax: the ceiling of any probe), as Monte Carlo means with SEs.
The majority class is the argmax of the task's exact prior when known (tree-node and HMM-state tasks; its exact
accuracy is reported too); otherwise it is cross-fitted: the mode of the even-numbered sentences is scored on the
odd-numbered ones and vice versa, so the estimate is not biased upwards by choosing the class on the same data.
`format_card` renders it as a table.
"""
import time

import numpy as np

from flatness_jax.data.language import TaskUnavailableError, loss_statistics


def _mean_se(x):
  x = np.asarray(x, np.float64)
  return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def compute_card(language, num_sentences: int, sample_seed: int, on_progress=None) -> dict:
  """The card's numbers (module docstring) as a dict; on_progress(sentences done) after each batch, if given."""
  t0 = time.time()
  sample = language.sample(sample_seed, num_sentences)
  bs = language.batch_size
  nll = np.zeros(num_sentences)
  sampled = {k: t for k, t in language.tasks.items() if t.dataset is None}  # tasks labelling sampled sentences
  labels = {k: np.zeros(num_sentences, np.int64) for k in sampled}
  preds = {k: np.zeros(num_sentences, np.int64) for k in sampled}
  for i in range(0, num_sentences, bs):
    sl = slice(i, min(i + bs, num_sentences))
    part = type(sample)(sample.tokens[sl], sample.lengths[sl],
                        type(sample.latents)(*(np.asarray(a)[sl] for a in sample.latents))
                        if isinstance(sample.latents, tuple) else np.asarray(sample.latents)[sl])
    nll[sl] = language.sentence_nll_sums(part.tokens, part.lengths, np.random.default_rng([sample_seed, i]))
    for name, task in sampled.items():
      labels[name][sl] = task.labels(part)
      preds[name][sl] = task.bayes_predictions(part)
    if on_progress:
      on_progress(sl.stop)
  card = loss_statistics(nll, sample.lengths)
  card.update(min_length=int(sample.lengths.min()), max_length=int(language.max_length),
              observed_max_length=int(sample.lengths.max()),
              length_histogram={int(n): int(c) for n, c in zip(*np.unique(sample.lengths, return_counts=True))},
              name=language.name, vocab_size=int(language.vocab_size), sample_seed=int(sample_seed),
              optimal_loss_estimator=language.nll_estimator, **language.card_extras())
  tasks = {name: external_task_entry(task, num_sentences, sample_seed)
           for name, task in language.tasks.items() if name not in sampled}
  for name, task in sampled.items():
    entry = {"num_classes": int(task.num_classes), "description": task.description}
    lab = labels[name]
    if task.prior is not None:
      majority = int(np.argmax(task.prior))
      entry["majority_accuracy_exact"] = float(np.max(task.prior))
      entry["majority_from"] = "exact prior"
      hits = lab == majority
    else:
      modes = [int(np.bincount(lab[k::2], minlength=task.num_classes).argmax()) for k in (0, 1)]
      hits = np.concatenate([lab[1::2] == modes[0], lab[0::2] == modes[1]])
      majority = modes[0]
      entry["majority_from"] = "cross-fitted mode (even/odd sentences)"
    entry["majority_class"] = task.class_names[majority] if task.class_names else majority
    entry["majority_accuracy"], entry["majority_accuracy_se"] = _mean_se(hits)
    entry["bayes_accuracy"], entry["bayes_accuracy_se"] = _mean_se(preds[name] == labels[name])
    entry["num_observed_classes"] = int(len(np.unique(labels[name])))
    tasks[name] = entry
  card["tasks"] = tasks
  card["seconds"] = time.time() - t0
  return card


def external_task_entry(task, num_examples: int, seed: int) -> dict:
  """What a task on external text (GLUE) looks like: split sizes, its `info` (out-of-set rates), the majority
  class of its training part scored on its test part; or why it was skipped."""
  entry = {"num_classes": int(task.num_classes), "description": task.description}
  try:
    data = task.dataset(num_examples, seed)
  except TaskUnavailableError as e:
    return dict(entry, skipped=str(e))
  train, _, test = data.split
  majority = int(np.bincount(data.labels[train], minlength=task.num_classes).argmax())
  entry.update(data.info, majority_class=task.class_names[majority] if task.class_names else majority,
               majority_from="training part", split_sizes=[len(s) for s in data.split])
  entry["majority_accuracy"], entry["majority_accuracy_se"] = _mean_se(data.labels[test] == majority)
  return entry


def format_card(card: dict) -> str:
  """A readable table of the card."""
  lines = [
      f"language {card['name']}: vocabulary {card['vocab_size']}, lengths {card['min_length']}..."
      f"{card['observed_max_length']} (max {card['max_length']}), mean {card['mean_length']:.3f}",
      f"sentences {card['num_sentences']} (seed {card['sample_seed']}), {card['seconds']:.1f}s",
      f"optimal loss L* (sentence-weighted) {card['optimal_loss']:.4f} ± {card['optimal_loss_se']:.4f} nats",
      f"optimal loss (token-weighted)       {card['optimal_loss_token_weighted']:.4f} ± "
      f"{card['optimal_loss_token_weighted_se']:.4f} nats",
      f"estimated from: {card.get('optimal_loss_estimator', 'exact (every position)')}",
  ]
  if "token_set" in card:
    s = card["token_set"]
    lines += [f"token set S: K = {s['num_tokens']} ({s['num_words']} words + EOS)" if s["eos_in_set"] else
              f"token set S: K = {s['num_tokens']} words (EOS not in S: every sentence has the maximum length)",
              f"  selection: {s['selection']}", f"  decoder: {s['decoder']}",
              f"  word ids: {card['word_ids']}"]
    if "prompts" in s:
      lines.append(f"  prompts: {s['prompts']}: {card['prompts']['ids']}")
  if "grammar_file" in card:
    lines.append(f"grammar file: {card['grammar_file']['path']} (sha256 {card['grammar_file']['sha256']})")
  lines += [
      "",
      f"{'task':10s} {'classes':>7s} {'majority':>17s} {'bayes':>17s}  description",
  ]
  for name, t in card["tasks"].items():
    if "skipped" in t:
      lines.append(f"{name:10s} skipped: {t['skipped']}")
      continue
    if "bayes_accuracy" not in t:
      oov = ", ".join(f"{k} {100 * v['out_of_set_rate']:.1f}%" for k, v in t.items()
                      if isinstance(v, dict) and "out_of_set_rate" in v)
      lines.append(f"{name:10s} {t['num_classes']:7d} {t['majority_accuracy']:9.4f} ± {t['majority_accuracy_se']:.4f} "
                   f"{'–':>17s}  {t['description']}; out-of-set tokens: {oov}")
      continue
    majority = (f"{t['majority_accuracy_exact']:9.4f} (exact)" if "majority_accuracy_exact" in t else
                f"{t['majority_accuracy']:9.4f} ± {t['majority_accuracy_se']:.4f}")
    lines.append(f"{name:10s} {t['num_classes']:7d} {majority:>17s} "
                 f"{t['bayes_accuracy']:9.4f} ± {t['bayes_accuracy_se']:.4f}  {t['description']}")
  return "\n".join(lines)
