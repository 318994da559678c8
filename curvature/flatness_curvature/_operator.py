"""Curvature operators: A = Σ_b w_b A_b over batches, applied in the two ways the estimators need.

An operator is a symmetric linear map on pytrees shaped like the parameters, defined per batch by a *linearizer*
`linearize(fns, params, batch, index, extra) -> (v ↦ A_b v)` that does the per-batch work once (`jax.linearize` of the
gradient for the Hessian, of the model for the GGN and the Fisher) and returns the linear map. Two ways to use it:

  * `op.apply(f)` for f(matvec) LINEAR in the matvec (a block A V, quadratic forms vᵀ A v, z ⊙ A z): returns
    Σ_b w_b f(A_b), linearizing each batch once per call and keeping one batch's residuals alive at a time (a
    `lax.scan` over batches when they share shapes), so memory does not grow with the number of batches;
  * `op.bind(g)` for any g(matvec) (Lanczos, CG, ‖A z‖²): linearizes every batch once, then g(v ↦ Σ_b w_b A_b v)
    (memory: the residuals of all batches; batches of one shape are linearized as one vmapped program, so its
    size does not grow with their number).

`op(v)` is one product. An operator is a pytree of its arrays — functions, weights and settings static, parameters
and batches traced — so an estimator compiles once per operator kind and shapes (see _filter_jit.py), and inside its
jit the linearization is done once and shared by all products. A plain function v ↦ A v is an operator too
(`as_operator`). Parameters in a narrow dtype (bf16) see vectors rounded to their dtype and return products widened
to float32 (_precision.py). With a mask the operator is P A P (_masks.py). The weights w_b follow the batch contract
of _batches.py.
"""
import jax
import jax.numpy as jnp
from jax import lax

from flatness_curvature._batches import as_batch_list, batch_weights, same_shapes
from flatness_curvature._checks import check_key, check_params
from flatness_curvature._filter_jit import combine, filter_jit, partition
from flatness_curvature._masks import masked_matvec
from flatness_curvature._precision import cast_matvec, working_like
from flatness_curvature._random_vectors import vector_shardings


def weighted_sum(terms, weights):
  """Σ_b w_b term_b over pytrees (weights are Python floats or traced scalars)."""
  out = jax.tree.map(lambda x: weights[0] * x, terms[0])
  for term, w in zip(terms[1:], weights[1:]):
    out = jax.tree.map(lambda acc, x, w=w: acc + w * x, out, term)
  return out


@jax.tree_util.register_pytree_node_class
class Operator:
  """Σ_b w_b A_b (see the module docstring). Build one with hessian_matvec, ggn_matvec, fisher_matvec,
  empirical_fisher_matvec or as_operator; call it on a vector, or pass it to any estimator."""

  def __init__(self, linearize, fns, params, batches, weights, *, vector_like, mask=None, extra=None,
               stackable=None):
    self.linearize, self.fns, self.params, self.extra = linearize, fns, params, extra
    self.batches, self.weights = list(batches), tuple(weights)
    self.vector_like, self.mask = vector_like, mask
    self.stackable = (len(self.batches) > 1 and same_shapes(self.batches)) if stackable is None else stackable

  def tree_flatten(self):
    """Children: the arrays only (parameters, batches, arrays closed over by the functions, the mask); functions,
    weights, shapes and settings are static, so `jax.jit(f)(op)` and `jax.tree.map` work on an operator."""
    arrays, static = partition((self.fns, self.params, self.batches, self.extra, self.vector_like, self.mask))
    present = tuple(a is not None for a in arrays)
    return [a for a in arrays if a is not None], (self.linearize, self.weights, self.stackable, static, present)

  @classmethod
  def tree_unflatten(cls, aux, children):
    linearize, weights, stackable, static, present = aux
    it = iter(children)
    arrays = [next(it) if p else None for p in present]
    fns, params, batches, extra, vector_like, mask = combine(arrays, static)
    return cls(linearize, fns, params, batches, weights, vector_like=vector_like, mask=mask, extra=extra,
               stackable=stackable)

  def with_mask(self, mask):
    """The operator P A P restricted to `mask` (replacing any earlier mask)."""
    return Operator(self.linearize, self.fns, self.params, self.batches, self.weights, vector_like=self.vector_like,
                    mask=mask, extra=self.extra, stackable=self.stackable)

  def matvec_of(self, batch, index):
    """v ↦ A_b v for one batch (linearized now)."""
    mv = self.linearize(self.fns, self.params, batch, index, self.extra)
    return masked_matvec(cast_matvec(mv, self.vector_like), self.mask)

  def apply(self, f):
    """Σ_b w_b f(v ↦ A_b v) for f linear in its matvec; one batch linearized at a time."""
    if len(self.batches) == 1:
      return f(self.matvec_of(self.batches[0], 0))
    if not self.stackable:
      return weighted_sum([f(self.matvec_of(b, i)) for i, b in enumerate(self.batches)], self.weights)
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *self.batches)
    shapes = jax.eval_shape(lambda b: f(self.matvec_of(b, 0)), self.batches[0])
    init = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    def body(acc, xs):
      batch, w, i = xs
      return jax.tree.map(lambda a, o: a + w.astype(o.dtype) * o, acc, f(self.matvec_of(batch, i))), None
    total, _ = lax.scan(body, init, (stacked, jnp.asarray(self.weights), jnp.arange(len(self.batches))))
    return total

  def bind(self, g):
    """g(v ↦ Σ_b w_b A_b v) for any g; every batch linearized once."""
    if self.stackable and self.vector_like is not None:
      return g(self._stacked_matvec())
    mvs = [self.matvec_of(b, i) for i, b in enumerate(self.batches)]
    if len(mvs) == 1:
      return g(mvs[0])
    return g(lambda v: weighted_sum([mv(v) for mv in mvs], self.weights))

  def _stacked_matvec(self):
    """v ↦ Σ_b w_b A_b v for batches of one shape, linearized once for all of them: `jax.linearize` of
    v ↦ [A_b v]_b, the batches stacked and vmapped, keeps what does not depend on v (each batch's forward and
    backward pass) as residuals, so a product applies the stored linear maps of every batch at once. The program
    holds one vmapped copy of the per-batch linearization instead of one per batch, so its compilation does not
    grow with the number of batches. The sum over batches is taken in batch order, as weighted_sum."""
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *self.batches)
    indices = jnp.arange(len(self.batches))

    def products(v):
      return jax.vmap(lambda batch, i: self.matvec_of(batch, i)(v))(stacked, indices)
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), working_like(self.vector_like))
    _, linear = jax.linearize(products, zeros)
    weights = self.weights

    def matvec(v):
      return jax.tree.map(lambda y: sum((w * y[i] for i, w in enumerate(weights[1:], 1)), weights[0] * y[0]),
                          linear(v))
    return matvec

  def __call__(self, v):
    return _product(self, v)


@filter_jit
def _product(op, v):
  return op.bind(lambda mv: mv(v))


def _plain(fns, params, batch, index, extra):
  del params, batch, index, extra
  return fns[0]


def _structs(like):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), like)


def as_operator(matvec, like, mask=None):
  """`matvec` as an Operator on vectors shaped like `like` (an Operator is returned as is, with `mask` if given)."""
  if isinstance(matvec, Operator):
    if matvec.vector_like is not None and jax.tree.structure(like) != jax.tree.structure(matvec.vector_like):
      raise ValueError("like must have the structure of the operator's parameters: got "
                       f"{jax.tree.structure(like)} for an operator on {jax.tree.structure(matvec.vector_like)}")
    return matvec if mask is None else matvec.with_mask(mask)
  return Operator(_plain, (matvec,), None, [None], (1.0,), vector_like=_structs(like), mask=mask)


def batched_operator(linearize, fns, params, batches, *, mask=None, extra=None, num_examples=None, name="batches",
                     vectors=True):
  """The Operator Σ_b w_b A_b of a linearizer over the batches (contract and weights: _batches.py). With
  vectors=False the per-batch objects are not linear maps on parameter vectors (e.g. the batch losses of
  _batch_loss.py): no precision cast and no mask, only the weighted sum over batches."""
  batch_list = as_batch_list(batches, name)
  weights = batch_weights(batch_list, num_examples=num_examples)
  return Operator(linearize, fns, params, batch_list, weights, vector_like=_structs(params) if vectors else None,
                  mask=mask, extra=extra)


def prepare(matvec, like, key, mask=None):
  """The shared start of the estimators on (matvec, like, key): checks, then (operator, working-precision like,
  shardings of like, key)."""
  check_params(like, "like", structs_ok=True)
  key = check_key(key)
  return as_operator(matvec, like, mask), working_like(like), vector_shardings(like), key
