"""Dense inside–outside, one sentence at a time: the baselines of benchmarks/bench_data.py and an independent
check of flatness_jax.data.inside_outside.

With the rule tensor P[A, B, C] dense (N³ entries) and raw float64 probabilities (no scaling: fine up to a few dozen
tokens), for a sentence x of n tokens and p(x_t = w | x_{−t}) ∝ Σ_A α[t,t+1][A] e(A, w):
  * `inside_outside_naive`, the textbook loops: for every span [i,k) and split j,
    β[i,k] += Σ_{B,C} P[A,B,C] β[i,j][B] β[j,k][C]  (and the two outside updates), one N³ einsum each;
  * `inside_outside_dense`, the same with the splits of a span summed first (BLAS):
    β[i,k] = P ×_{B,C} Σ_j β[i,j] ⊗ β[j,k],  α[i,j] += Q β[j,k],  α[j,k] += β[i,j] Q,
    with Q = Σ_A α[i,k][A] P[A]: one N×N² matrix–vector product per span.
"""
import numpy as np


def dense_rules(grammar) -> np.ndarray:
  """P[A, B, C] as a dense array."""
  n = grammar.num_nonterminals
  p = np.zeros((n, n, n))
  np.add.at(p, (grammar.rule_lhs, grammar.rule_left, grammar.rule_right), grammar.rule_prob)
  return p


def inside_outside_dense(grammar, words, rules=None):
  """(β, α) as dense [n, n+1, N] arrays for one sentence `words` (a sequence of word ids)."""
  p = dense_rules(grammar) if rules is None else rules
  nt = grammar.num_nonterminals
  p2 = p.reshape(nt, nt * nt)
  n = len(words)
  beta = np.zeros((n, n + 1, nt))
  alpha = np.zeros((n, n + 1, nt))
  for t, w in enumerate(words):
    beta[t, t + 1] = grammar.emission[:, w]
  for width in range(2, n + 1):
    for i in range(n - width + 1):
      k = i + width
      m = beta[i, i + 1:k].T @ beta[i + 1:k, k]  # Σ_j β[i,j] ⊗ β[j,k]
      beta[i, k] = p2 @ m.ravel()
  alpha[0, n] = grammar.start
  for width in range(n, 1, -1):
    for i in range(n - width + 1):
      k = i + width
      q = (alpha[i, k] @ p2).reshape(nt, nt)  # Q[B, C] = Σ_A α[i,k][A] P[A,B,C]
      alpha[i, i + 1:k] += beta[i + 1:k, k] @ q.T
      alpha[i + 1:k, k] += beta[i, i + 1:k] @ q
  return beta, alpha


def inside_outside_naive(grammar, words, rules=None):
  """(β, α) [n, n+1, N] by the textbook triple loop over spans and splits, one N³ contraction per split."""
  p = dense_rules(grammar) if rules is None else rules
  nt = grammar.num_nonterminals
  n = len(words)
  beta = np.zeros((n, n + 1, nt))
  alpha = np.zeros((n, n + 1, nt))
  for t, w in enumerate(words):
    beta[t, t + 1] = grammar.emission[:, w]
  for width in range(2, n + 1):
    for i in range(n - width + 1):
      k = i + width
      for j in range(i + 1, k):
        beta[i, k] += np.einsum("abc,b,c->a", p, beta[i, j], beta[j, k])
  alpha[0, n] = grammar.start
  for width in range(n, 1, -1):
    for i in range(n - width + 1):
      k = i + width
      for j in range(i + 1, k):
        alpha[i, j] += np.einsum("abc,a,c->b", p, alpha[i, k], beta[j, k])
        alpha[j, k] += np.einsum("abc,a,b->c", p, alpha[i, k], beta[i, j])
  return beta, alpha


def masked_conditionals_dense(grammar, words, rules=None, naive=False) -> np.ndarray:
  """p(x_t = w | x_{−t}) [n, V] for one sentence (naive: the textbook loops)."""
  _, alpha = (inside_outside_naive if naive else inside_outside_dense)(grammar, words, rules)
  n = len(words)
  joint = np.stack([alpha[t, t + 1] for t in range(n)]) @ grammar.emission
  return joint / joint.sum(1, keepdims=True)


def log_likelihood_dense(grammar, words, rules=None) -> float:
  beta, _ = inside_outside_dense(grammar, words, rules)
  return float(np.log(grammar.start @ beta[0, len(words)]))
