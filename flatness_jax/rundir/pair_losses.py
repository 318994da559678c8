"""Per-pair held-out losses of a run, by evaluation step: `heldout_losses.npz` next to metrics.jsonl.

Every run of a language evaluates on the same fixed (sentence, masked position) pairs (flatness_jax.train.heldout,
from `eval.seed`), so two runs' losses can be compared pair by pair: the difference of two models' mean losses
has standard error sd_i(ℓᵃᵢ − ℓᵇᵢ)/√n, far below √(seᵃ² + seᵇ²) because both see the same hard and easy pairs.
The file holds
  steps    int64 [m]        evaluation steps, ascending
  losses   float32 [m, n]   −log f_θ(x_{−t})_{x_t} of every pair at each step
  optimal  float64 [n]      the exact optimal losses ℓ*ᵢ of the pairs
  digest   str              a fingerprint of the pairs (inputs, positions, targets): equal digests, equal pairs
and is rewritten atomically at each evaluation (a resumed run first drops the steps after its checkpoint), with its
checksum (flatness_jax.rundir.integrity). A file that does not match its checksum or cannot be read as this npz
raises CorruptFileError naming it; the train job then moves it aside (`move_aside`, never deleting it) and records
the steps it evaluates from then on.
"""
import dataclasses
import hashlib
import os
import zipfile

import numpy as np

from flatness_jax.rundir import integrity

FILE = "heldout_losses.npz"


@dataclasses.dataclass
class PairLosses:
  steps: np.ndarray
  losses: np.ndarray
  optimal: np.ndarray
  digest: str

  def at(self, step: int):
    """The losses [n] at `step`, or None if that step was not evaluated."""
    hit = np.flatnonzero(self.steps == step)
    return self.losses[hit[-1]] if hit.size else None


def digest(*arrays) -> str:
  """A hex fingerprint of the held-out pairs."""
  h = hashlib.blake2b(digest_size=12)
  for a in arrays:
    a = np.ascontiguousarray(a)
    h.update(str((a.dtype, a.shape)).encode())
    h.update(a.tobytes())
  return h.hexdigest()


def load(workdir: str):
  """The run's PairLosses, or None when it has none (runs written before the file existed)."""
  path = os.path.join(workdir, FILE)
  if not os.path.exists(path):
    return None
  integrity.verify(path)
  try:
    with np.load(path) as z:
      p = PairLosses(steps=z["steps"], losses=z["losses"], optimal=z["optimal"], digest=str(z["digest"]))
  except (zipfile.BadZipFile, ValueError, KeyError, EOFError, OSError) as e:
    raise integrity.CorruptFileError(f"{path} is not a readable per-pair loss file ({type(e).__name__})") from None
  if p.losses.shape != (len(p.steps), len(p.optimal)):
    raise integrity.CorruptFileError(f"{path}: losses {p.losses.shape} do not match {len(p.steps)} steps of "
                                     f"{len(p.optimal)} pairs")
  return p


def move_aside(workdir: str) -> str:
  """Renames the run's heldout_losses.npz to the first free heldout_losses.corrupt_<k>.npz (never deleting it) and
  returns the new path."""
  return integrity.move_aside(os.path.join(workdir, FILE))


def _save(path: str, p: PairLosses) -> None:
  integrity.write_atomic(path, lambda f: np.savez(f, steps=p.steps, losses=p.losses, optimal=p.optimal,
                                                  digest=np.asarray(p.digest)), ".npz", mode="wb")
  integrity.record(path)


def truncate(workdir: str, last_step: int) -> None:
  """Drops the steps after `last_step` (a run resumed from that step's checkpoint re-evaluates them)."""
  p = load(workdir)
  if p is not None and np.any(p.steps > last_step):
    keep = p.steps <= last_step
    _save(os.path.join(workdir, FILE), dataclasses.replace(p, steps=p.steps[keep], losses=p.losses[keep]))


def record(workdir: str, step: int, losses, optimal, pairs_digest: str) -> None:
  """Adds (or replaces) the losses of `step`; the pairs must be those already recorded."""
  path = os.path.join(workdir, FILE)
  losses = np.asarray(losses, np.float32)[None]
  p = load(workdir)
  if p is None or p.digest != pairs_digest or p.losses.shape[1] != losses.shape[1]:
    p = PairLosses(np.zeros(0, np.int64), np.zeros((0, losses.shape[1]), np.float32),
                   np.asarray(optimal, np.float64), pairs_digest)
  keep = p.steps != step
  steps = np.concatenate([p.steps[keep], [step]]).astype(np.int64)
  order = np.argsort(steps, kind="stable")
  _save(path, PairLosses(steps[order], np.concatenate([p.losses[keep], losses])[order], p.optimal, p.digest))
