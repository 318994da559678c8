"""The batch contract: what is one batch, what is several, how many examples each holds, how they are weighted.

One batch is any pytree that `loss_fn(params, batch)` takes: an array, a tuple (x, y), a dict, a dataclass. Its
example axis is the LEADING axis of every array leaf: a batch holds n examples when every leaf of rank ≥ 1 has
leading dimension n (rank-0 leaves are shared scalars). Nothing is read from the first leaf alone, so a dict whose
alphabetically first key is model state cannot pass for the batch size.

Several batches (the curvature of the loss averaged over all their examples, L = Σ_b (n_b/N) L_b with L_b the mean
loss of batch b) are given as
  * a Python list of batches (a list is always several batches: `[batch]` is one),
  * any other iterable that is not a pytree: a generator, an iterator, a data loader. It is read once into a list
    (host memory: the whole curvature set), since estimators pass over the batches several times;
and a tuple is always ONE batch. A tuple whose elements are all containers of one same structure, such as
`(batch_1, batch_2)`, is refused as ambiguous (pass a list for several batches, `[(view_1, view_2)]` for one batch
made of two views). Array-likes that are not jax or numpy arrays (torch or tf tensors from a loader) are converted
with numpy.

Weights. Batches of identical shapes hold the same number of examples, so they are weighted equally without reading
any size. Otherwise n_b is read by the contract above, or given by the caller as `num_examples=[n_1, n_2, ...]`
(needed when a batch holds arrays that are not per example, e.g. model state, or when examples are padded);
leaves that disagree are an error that names them. A short last batch thus counts for its examples only.
"""
import collections.abc

import jax
import numpy as np

from flatness_curvature._checks import describe
from flatness_curvature._filter_jit import is_array
from flatness_curvature._masks import path_string


def _to_array(x):
  if not is_array(x) and hasattr(x, "__array__") and not isinstance(x, (str, bytes)):
    return np.asarray(x)
  return x


def _is_container(x):
  return not jax.tree_util.treedef_is_leaf(jax.tree.structure(x))


def as_batch_list(batches, name="batches") -> list:
  """The batches as a list (see the module docstring for what is one batch and what is several)."""
  if isinstance(batches, list):
    out = batches
  elif isinstance(batches, collections.abc.Iterator):
    out = list(batches)  # a generator, an iterator
  elif isinstance(batches, tuple):
    if len(batches) >= 2 and all(_is_container(b) for b in batches):
      structures = {jax.tree.structure(b) for b in batches}
      if len(structures) == 1:
        raise ValueError(f"{name} is a tuple of {len(batches)} batches of one structure, which is ambiguous: a "
                         f"tuple is always ONE batch; pass a list [b1, b2, ...] for several batches, or "
                         f"[({', '.join('...' for _ in batches)})] if it really is one batch")
    out = [batches]
  elif (not _is_container(batches) and not is_array(batches) and not hasattr(batches, "__array__")
        and hasattr(batches, "__iter__") and not isinstance(batches, (str, bytes))):
    out = list(batches)  # a data loader
  else:
    out = [batches]
  if not out:
    raise ValueError(f"{name} is empty")
  return [jax.tree.map(_to_array, b) for b in out]


def count_examples(batch, *, name="batch", fix="give num_examples"):
  """The number of examples of a batch: the common leading dimension of its leaves of rank ≥ 1."""
  dims = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(batch)[0]:
    shape = np.shape(leaf)
    if len(shape) >= 1:
      dims[path_string(path) or "(the array)"] = int(shape[0])
  if not dims:
    raise ValueError(f"{name} has no array with an example axis ({describe(batch)}); {fix}")
  if len(set(dims.values())) > 1:
    listed = ", ".join(f"'{p}' {n}" for p, n in dims.items())
    raise ValueError(f"{name}: its leaves disagree on the leading (example) axis: {listed}; {fix}, or keep arrays "
                     f"that are not per example out of the batch (close over them in the loss)")
  return next(iter(dims.values()))


def same_shapes(batch_list) -> bool:
  """Whether all batches have one tree structure and the same shapes and dtypes (stackable, equal weights)."""
  def signature(b):
    leaves, treedef = jax.tree.flatten(b)
    return treedef, tuple((np.shape(x), np.dtype(x.dtype)) if is_array(x) else ("static", x) for x in leaves)
  try:
    first = signature(batch_list[0])
    return all(signature(b) == first for b in batch_list[1:])
  except TypeError:  # unhashable / incomparable static leaves
    return False


def batch_weights(batches, *, num_examples=None) -> list[float]:
  """n_b / N for each batch (see the module docstring): equal for batches of identical shapes, else read by the
  contract, or from `num_examples` (one count per batch) when given."""
  batch_list = as_batch_list(batches)
  if num_examples is not None:
    counts = [int(n) for n in np.atleast_1d(num_examples)]
    if len(counts) != len(batch_list) or min(counts) < 1:
      raise ValueError(f"num_examples must give one positive count per batch ({len(batch_list)} batches), got "
                       f"{num_examples!r}")
  elif len(batch_list) == 1 or same_shapes(batch_list):
    counts = [1] * len(batch_list)
  else:
    counts = [count_examples(b, name=f"batches[{i}]", fix="give num_examples=[n_1, n_2, ...] (one count per batch)")
              for i, b in enumerate(batch_list)]
  total = sum(counts)
  return [n / total for n in counts]


def split_batch(batch, num: int, *, batch_size=None) -> list:
  """One batch as a list of `num` microbatches of equal size along the example axis.

  Memory dial for every estimator: an operator on a list of batches linearizes one microbatch at a time (a scan when
  they share shapes), so the residuals alive at once are those of one microbatch, and the equally weighted sum over
  microbatches is exactly the curvature of the batch's mean loss. The arithmetic is the same: measured on the
  benchmark transformer, 2 microbatches of 128 hold 1.9× the memory of the 256-example gradient where one batch
  holds 3.9×, at an equal or lower time per random vector (benchmarks/bench_curvature.py).

  The example count is read by the batch contract (all leaves of rank ≥ 1 agree on their leading axis), or given as
  `batch_size`: then leaves whose leading axis is batch_size are split and every other leaf (model state, a mask
  table) is passed whole to each microbatch.
  """
  if not isinstance(num, (int, np.integer)) or isinstance(num, bool) or num < 1:
    raise ValueError(f"num must be a positive integer (the number of microbatches), got {num!r}")
  if batch_size is None:
    n = count_examples(batch, fix="give batch_size=<examples> (leaves whose leading axis has that length are split, "
                                   "the others passed whole to every microbatch)")
  else:
    n = int(batch_size)
    if not any(np.ndim(x) >= 1 and np.shape(x)[0] == n for x in jax.tree.leaves(batch)):
      raise ValueError(f"batch_size={batch_size}: no leaf of the batch has a leading axis of that length")
  if n % num:
    raise ValueError(f"split_batch: {n} examples do not split into {num} equal microbatches")
  size = n // num

  def part(i):
    return jax.tree.map(lambda a: a[i * size:(i + 1) * size] if np.ndim(a) >= 1 and np.shape(a)[0] == n else a,
                        batch)
  return [part(i) for i in range(num)]
