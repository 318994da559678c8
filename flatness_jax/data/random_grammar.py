"""Random balanced PCFGs and the presets used by the experiments.

A balanced grammar of depth D has levels 0..D of non-terminals (`nonterminals_per_level`). A level-l non-terminal
(l < D) has `rules_per_nonterminal` binary rules A → B C, distinct ordered pairs of level-(l+1) non-terminals drawn
uniformly without replacement, with probabilities ~ Dirichlet(`rule_concentration`). Level-D non-terminals
(pre-terminals) emit one of `emission_support` words drawn from the vocabulary, with probabilities
~ Dirichlet(`emission_concentration`). The root is drawn from level 0, uniformly (or with probabilities
~ Dirichlet(`start_concentration`)).
Every sentence therefore has exactly 2^D tokens and every tree the same shape, so the label of a tree node is the
label of a fixed span: the paper's tasks A/B/C (Liu et al. 2023, §5: spans of 32/16/8 tokens of 32-token
sentences) are the nodes at depths 0/1/2.

Presets (`PRESETS`; `random_grammar(preset, seed)`):
  * `paper`: 50 non-terminals, 200 words, 32 tokens (Liu et al. 2023). The paper gives neither the split of the 50
    non-terminals over the 6 levels nor the rule counts and Dirichlet parameters. We use levels (10, 8, 8, 8, 8, 8),
    3 rules per non-terminal with Dirichlet(1), pre-terminals emitting 35 of 200 words with Dirichlet(0.5): chosen
    (at seed 0, over a small grid) so that L* lands near the paper's 3.196 while the tree-node tasks stay well above
    chance. Mirroring the released grammar's statistics instead (~20 rules per non-terminal, ~100 words per
    pre-terminal) makes the root label nearly unidentifiable (Bayes accuracy ≈ chance), unlike the paper's tasks.
  * `cpu_easy`: depth 4 (16 tokens), 4 non-terminals per level, 2 rules each with Dirichlet(1); pre-terminals emit
    8 of 50 words with Dirichlet(0.5): a grammar small CPU models reach the optimum of within minutes.
  * `cpu_hard`: as cpu_easy with levels (4, 6, 6, 6, 6) and 3 rules per non-terminal.
  * `tiny`: depth 2 (4 tokens), 2 non-terminals per level, 6 words: small enough to enumerate every sentence.
"""
import numpy as np

from flatness_jax.data.grammar import make_grammar

PRESETS = {
    "paper": dict(depth=5, nonterminals_per_level=(10, 8, 8, 8, 8, 8), rules_per_nonterminal=3,
                  rule_concentration=1.0, vocab_size=200, emission_support=35, emission_concentration=0.5),
    "cpu_easy": dict(depth=4, nonterminals_per_level=(4, 4, 4, 4, 4), rules_per_nonterminal=2,
                     rule_concentration=1.0, vocab_size=50, emission_support=8, emission_concentration=0.5),
    "cpu_hard": dict(depth=4, nonterminals_per_level=(4, 6, 6, 6, 6), rules_per_nonterminal=3,
                     rule_concentration=1.0, vocab_size=50, emission_support=8, emission_concentration=0.5),
    "tiny": dict(depth=2, nonterminals_per_level=(2, 2, 2), rules_per_nonterminal=2,
                 rule_concentration=1.0, vocab_size=6, emission_support=3, emission_concentration=1.0),
}


def balanced_grammar(seed: int, depth: int, nonterminals_per_level, rules_per_nonterminal: int, vocab_size: int,
                     emission_support: int, rule_concentration: float = 1.0, emission_concentration: float = 0.5,
                     start_concentration=None, name: str = "balanced"):
  """A random balanced grammar (module docstring); the same seed gives the same grammar."""
  levels = tuple(int(k) for k in nonterminals_per_level)
  if len(levels) != depth + 1 or min(levels) < 1:
    raise ValueError(f"nonterminals_per_level={levels} must have depth+1={depth + 1} positive entries")
  if not 1 <= emission_support <= vocab_size:
    raise ValueError(f"emission_support={emission_support} must be in [1, vocab_size={vocab_size}]")
  rng = np.random.default_rng(seed)
  offsets = np.concatenate([[0], np.cumsum(levels)])
  n = int(offsets[-1])
  names = [f"L{l}_{i}" for l, k in enumerate(levels) for i in range(k)]
  rules = []
  for l in range(depth):
    nxt = levels[l + 1]
    r = min(rules_per_nonterminal, nxt * nxt)
    for a in range(levels[l]):
      pairs = rng.choice(nxt * nxt, size=r, replace=False)
      probs = rng.dirichlet(np.full(r, rule_concentration))
      for pair, p in zip(pairs, probs):
        rules.append((offsets[l] + a, offsets[l + 1] + pair // nxt, offsets[l + 1] + pair % nxt, p))
  emission = np.zeros((n, vocab_size))
  for a in range(offsets[depth], n):
    support = rng.choice(vocab_size, size=emission_support, replace=False)
    emission[a, support] = rng.dirichlet(np.full(emission_support, emission_concentration))
  start = np.zeros(n)
  if start_concentration is None:
    start[:levels[0]] = 1.0 / levels[0]
  else:
    start[:levels[0]] = rng.dirichlet(np.full(levels[0], start_concentration))
  # Renormalise away float round-off of the Dirichlet draws.
  start /= start.sum()
  rules = [(a, b, c, p) for a, b, c, p in rules]
  words = [f"w{i}" for i in range(vocab_size)]
  return _trimmed(names, words, start, rules, emission, name)


def _trimmed(names, words, start, rules, emission, name):
  """Drops non-terminals that no derivation reaches (a random draw may leave some unused), then validates."""
  n = len(names)
  reach = start > 0
  for _ in range(n):
    new = reach.copy()
    for a, b, c, _ in rules:
      if reach[a]:
        new[b] = new[c] = True
    if np.array_equal(new, reach):
      break
    reach = new
  keep = np.flatnonzero(reach)
  remap = -np.ones(n, np.int64)
  remap[keep] = np.arange(len(keep))
  rules = [(remap[a], remap[b], remap[c], p) for a, b, c, p in rules if reach[a]]
  emission = emission[keep] / emission[keep].sum(1, keepdims=True).clip(1e-300)
  emission[np.asarray(emission.sum(1)) == 0] = 0.0
  return make_grammar([names[i] for i in keep], words, start[keep], rules, emission, name=name)


def random_grammar(preset: str, seed: int):
  """The grammar of a preset (`PRESETS`) drawn with `seed`."""
  if preset not in PRESETS:
    raise ValueError(f"unknown pcfg preset {preset!r}; known: {sorted(PRESETS)}")
  return balanced_grammar(seed, name=f"pcfg-{preset}-seed{seed}", **PRESETS[preset])
