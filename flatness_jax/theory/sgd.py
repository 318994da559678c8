"""SGD on the check model with fresh samples every step, recording exact Tr ∇²L and the distance to Γ.

    θ_{k+1} = θ_k − η ∇_θ (1/B) Σ_{b=1}^{B} ℓ(θ_k; x_b, y_b),   (x_b, y_b) i.i.d. from the population (model.py),

i.e. one pass over an infinite stream: the batch gradient is unbiased for ∇L with covariance ∇²L / B on Γ, the
setting of Theorem 4.3. Every `record_every` steps it records, at t = η² k:
  * `trace`: Tr ∇²L(θ_k) (exact, model.hessian_trace), what an experiment on a real model measures;
  * `trace_on_gamma`: Tr ∇²L at the nearest point of Γ to θ_k (removes the O(√η) normal fluctuation, whose mean
    effect on Tr ∇²L is O(η/B));
  * `distance`: the distance from θ_k to Γ, and `loss_gap`: L(θ_k) − L*.
Seeds are independent runs (vmapped): seed j's step-k batch comes from fold_in(fold_in(key(seed), j), k).
"""
import functools

import jax
import jax.numpy as jnp
from jax import lax

from flatness_jax.theory import manifold, model


def sgd_step(theta, key, problem, learning_rate, batch_size: int):
  """One SGD step on a fresh batch of `batch_size` examples drawn with `key`."""
  index, label = model.sample_batch(key, problem, batch_size)
  return theta - learning_rate * jax.grad(model.batch_loss)(theta, problem, index, label)


def measure(theta, problem) -> dict:
  """The recorded quantities of one iterate (module docstring)."""
  y = manifold.nearest_point(theta, problem)
  return {"trace": model.hessian_trace(theta, problem), "trace_on_gamma": model.hessian_trace(y, problem),
          "distance": jnp.linalg.norm(theta - y),
          "loss_gap": model.population_loss(theta, problem) - model.population_minimum(problem)}


@jax.jit
def measure_many(thetas, problem) -> dict:
  """`measure` of every row of thetas [..., M] (one compiled program for all batch sizes and learning rates)."""
  flat = thetas.reshape(-1, thetas.shape[-1])
  out = jax.vmap(measure, in_axes=(0, None))(flat, problem)
  return jax.tree.map(lambda x: x.reshape(thetas.shape[:-1]), out)


@functools.partial(jax.jit, static_argnames=("batch_size", "num_records"))
def trajectories(problem, theta0, keys, learning_rate, batch_size, record_every, num_records):
  """θ at steps 0, record_every, ..., num_records·record_every for each key: [len(keys), num_records + 1, M]."""
  def one_seed(key):
    def segment(theta, r):
      def step(i, th):
        return sgd_step(th, jax.random.fold_in(key, r * record_every + i), problem, learning_rate, batch_size)
      theta = lax.fori_loop(0, record_every, step, theta)
      return theta, theta
    _, thetas = lax.scan(segment, theta0, jnp.arange(num_records))
    return jnp.concatenate([theta0[None], thetas])
  return jax.vmap(one_seed)(keys)


def run(problem, theta0, *, learning_rate: float, batch_size: int, num_seeds: int, record_every: int,
        num_records: int, seed: int = 0) -> dict:
  """`num_seeds` SGD runs from θ0; arrays [num_seeds, num_records + 1] per recorded quantity, plus steps and t."""
  keys = jax.vmap(lambda j: jax.random.fold_in(jax.random.key(seed), j))(jnp.arange(num_seeds))
  thetas = trajectories(problem, jnp.asarray(theta0), keys, learning_rate, batch_size, record_every, num_records)
  steps = record_every * jnp.arange(num_records + 1)
  return {**measure_many(thetas, problem), "steps": steps, "t": learning_rate ** 2 * steps}
