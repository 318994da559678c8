"""Points of the theory tests off Γ."""
import jax


def perturbed(theta, scale=0.1, seed=1):
  """θ + scale · N(0, I) with a fixed seed: a point off Γ."""
  return theta + scale * jax.random.normal(jax.random.key(seed), theta.shape, theta.dtype)
