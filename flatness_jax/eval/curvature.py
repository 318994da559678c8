"""Curvature of a trained run's checkpoints: `Measurer(run, cfg).measure(step, key) -> records.Curvature`.

Per checkpoint step it measures, with flatness_curvature (the 'curvature' job, flatness_jax.jobs.curvature,
writes the records to <run>/curvature.json):
- `hessian_trace.<method>`: Tr ∇²L(θ) of the pre-training loss (one masked token per sentence, true labels) on a
  fixed set of `num_pairs` held-out (sentence, position) pairs, by Hutchinson / Hutch++ / XTrace; the standard
  error is over probes, conditional on those pairs (the pairs are the same for every step and run).
- `fisher_trace`: the paper's estimator E_x E_{y~f_θ} ‖∇_θ log f_θ(x_{−t})_y‖² (Liu et al. 2023, §5, B.1),
  equal to Tr ∇²L at a global optimum; its SE is over examples. Agreement with the Hessian trace is a diagnostic
  of being at the optimum (they differ away from it).
- `lambda_max`: the top Hessian eigenvalue by Lanczos, with its residual.
- `hessian_trace_embedded` (when `embed_into` names a sibling run): Tr(H) of the same function written in the
  larger run's architecture (flatness_jax.models.embed: duplicated neurons and heads with split outgoing weights,
  identity layers; Liu et al. 2023, §5 compare sizes "in one parameterization"), with the embedded model's loss on
  the same pairs (equal to `loss` up to rounding: the embedding preserves the function).
- `downstream_trace`: for each task, Tr ∇²_θ of a linear probe head's cross-entropy with respect to the encoder
  parameters θ (head fitted on frozen features at that step, then held fixed) — flatness of the downstream loss,
  next to flatness of the pre-training loss (the reviewers' second question).
- `sharpness` (`curvature.sharpness`, names in SHARPNESS): the measures the flatness-versus-generalisation
  literature compares, on the same pairs and loss as Tr(H), each with the radius ρ it was measured at
  (`curvature.rho.<name>`): `average` E_{δ~N(0,ρ²I)} L(θ + δ) − L(θ) (Keskar et al. 2017; Jiang et al. 2020) and
  `adaptive_average` with δ scaled by |θ| (Kwon et al. 2021; Andriushchenko et al. 2023), antithetic Monte Carlo
  over `sharpness_samples` pairs with their SE; `worst` max_{‖δ‖≤ρ} L(θ + δ) − L(θ) (Foret et al. 2021) and
  `adaptive_worst` (|θ|-scaled), by `sharpness_steps` projected ascent steps (a lower bound, no SE, with its
  convergence flag); `fisher_rao` ⟨θ, F θ⟩ (Liang et al. 2019), exact over the model's labels on the Fisher
  examples, SE over examples. The adaptive measures do not change when one layer is scaled up and the next down,
  which rescales Tr(H) and the plain measures (Dinh et al. 2017): the reviewers' "is flatness just size?".
Each estimate records its value, its SE, the matvecs or per-example gradients spent, and seconds. With
`same_probes`, every checkpoint uses the same probe vectors and label draws (common random numbers): each estimate
is still unbiased with the same SE, but their errors are positively correlated, so differences and slopes across
checkpoints are more precise than their independent-error intervals (which the report uses) say.
"""
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import flatness_curvature as curvature
from flatness_jax.data import task_data
from flatness_jax.models import count_params, embed as embed_lib, readout
from flatness_jax.rundir import fields, layout, records, rundir
from flatness_jax.tokens import batching
from flatness_jax.train import heldout as heldout_lib, objective

# Which of a checkpoint's key splits each measurement uses (the traces take splits 0.. in method order): fixed, so
# a measurement is reproducible and the same draws serve every checkpoint with `same_probes`.
_FISHER_KEY, _LANCZOS_KEY, _DOWNSTREAM_KEY, _NUM_KEYS = 5, 6, 7, 8
_EMBEDDED_FOLD = 99
_SHARPNESS_FOLD = 200  # SHARPNESS[i] uses fold_in(key, _SHARPNESS_FOLD + i): the keys above stay
# what they were, so adding a measure changes no other estimate.
AVERAGE, ADAPTIVE_AVERAGE, WORST, ADAPTIVE_WORST, FISHER_RAO = (
    "average", "adaptive_average", "worst", "adaptive_worst", "fisher_rao")
SHARPNESS = (AVERAGE, ADAPTIVE_AVERAGE, WORST, ADAPTIVE_WORST, FISHER_RAO)  # the names a config and a record use


def _estimate(est, seconds, unit="matvecs") -> records.Estimate:
  low, high = est.ci95
  cost = est.num_matvecs if hasattr(est, "num_matvecs") else est.num_evaluations
  return records.Estimate(value=float(est.value), stderr=float(est.stderr), dof=int(est.dof),
                          cost=int(cost), unit=unit, seconds=seconds, ci95=(float(low), float(high)))


def sharpness_settings(cfg) -> tuple:
  """((name, ρ), ...) of the sharpness measures a curvature config asks for (ρ None for fisher_rao, which has no
  radius); ValueError naming an unknown measure or a radius that is not positive."""
  names = fields.split_list(cfg.get("sharpness", ""))
  unknown = [n for n in names if n not in SHARPNESS]
  if unknown:
    raise ValueError(f"curvature.sharpness: unknown measure(s) {unknown}; known: {list(SHARPNESS)}")
  out = []
  for name in names:
    if name == FISHER_RAO:
      out.append((name, None))
      continue
    rho = (cfg.get("rho") or {}).get(name)
    if rho is None or not float(rho) > 0:
      raise ValueError(f"curvature.rho.{name}={rho!r}: the radius of the {name} sharpness must be > 0")
    out.append((name, float(rho)))
  for key in ("sharpness_samples", "sharpness_steps"):
    if names and int(cfg.get(key, 0)) < 2:
      raise ValueError(f"curvature.{key}={cfg.get(key)!r} must be >= 2")
  return tuple(out)


def _scaled_loss(loss_fn, params, scale):
  """z ↦ L(θ + c ⊙ z) (c = `scale`): perturbing z = 0 by δ perturbs θ by c ⊙ δ, so the library's plain measure of
  this loss at z = 0 with radius 1 is its measure of L at θ with the scaling c/ρ and radius ρ: one compiled
  program serves the plain (c = ρ) and the adaptive (c = ρ|θ|) measure at any radius."""
  return lambda z, batch: loss_fn(jax.tree.map(lambda p, c, d: p + (c * d).astype(p.dtype), params, scale, z), batch)


def _sharpness_programs(loss_fn, logits_fn, samples: int, steps: int) -> dict:
  """The jitted measures, each (params, batches or Fisher inputs, key, scale) -> (value, stderr, dof, cost,
  converged): 'average' and 'worst' of L(θ + scale ⊙ δ) by flatness_curvature (`_scaled_loss`), 'fisher_rao'
  exact over the model's labels (no key, no scale)."""
  def zeros(p):
    return jax.tree.map(jnp.zeros_like, p)

  def average(p, bs, k, scale):
    est = curvature.average_sharpness(_scaled_loss(loss_fn, p, scale), zeros(p), bs, k, 1.0, num_samples=samples)
    return est.value, est.stderr, est.dof, est.num_evaluations, True

  def worst(p, bs, k, scale):
    res = curvature.worst_case_sharpness(_scaled_loss(loss_fn, p, scale), zeros(p), bs, k, 1.0, num_steps=steps)
    return res.value, jnp.nan, jnp.inf, steps + 1, res.converged

  def fisher_rao(p, inputs, k, scale):
    del k, scale  # exact over the model's labels: nothing sampled, no radius
    est = curvature.fisher_rao_norm_sq(logits_fn, p, inputs)
    return est.value, est.stderr, est.dof, est.num_evaluations, True
  return {AVERAGE: jax.jit(average), WORST: jax.jit(worst), FISHER_RAO: jax.jit(fisher_rao)}


def _timed(fn):
  t = time.time()
  out = jax.block_until_ready(fn())
  return out, time.time() - t


def pretraining_batches(language, num_pairs: int, batch_size: int, seed: int):
  """Held-out masked batches (the curvature set): a list of dicts of inputs, positions, targets (the pairs only:
  their exact conditionals are not needed here)."""
  h = heldout_lib.sample_pairs(language, num_pairs, seed)
  return [{"inputs": jnp.asarray(h.inputs[i:i + batch_size]), "positions": jnp.asarray(h.positions[i:i + batch_size]),
           "targets": jnp.asarray(h.targets[i:i + batch_size])} for i in range(0, num_pairs, batch_size)]


def downstream_loss_fn(model, head, pooling):
  """loss(params, batch) = CE(head(φ_θ(inputs)), labels): the probe loss as a function of the encoder."""
  def loss(params, batch):
    feats = readout.pooled_features(model, params, batch["inputs"], batch["lengths"], pooling)
    return readout.head_loss(head, feats, batch["labels"])
  return loss


def _example_mean(loss_fn, params, batches):
  """The mean loss over all examples of `batches` (batch means weighted by batch size, as the Hessian operator)."""
  return sum(w * loss_fn(params, b) for w, b in zip(curvature.batch_weights(batches), batches))


@functools.lru_cache(maxsize=16)
def compiled_programs(model, methods: tuple, num_matvecs: int, rtol, max_matvecs: int,
                      fisher_samples: int, lanczos_iters: int, pooling: str, sharpness_samples: int = 0,
                      sharpness_steps: int = 0) -> dict:
  """The jitted curvature functions of one model architecture and budget, parameters as arguments.

  Cached on (model, settings): flax modules compare by their fields, so runs of the same architecture (the
  variants of an algorithm or batch-size sweep, a run and the embedding target of smaller ones) share compiled
  programs; compilation, not arithmetic, dominates a curvature measurement on CPU.
  """
  loss_fn = objective.loss_fn_for(model)
  budget = dict(num_matvecs=num_matvecs, rtol=rtol, max_matvecs=max_matvecs)
  logits_fn = objective.logits_fn_for(model)

  def downstream(p, head, bs, k):
    return curvature.hessian_trace(downstream_loss_fn(model, head, pooling), p, bs, k, method="hutchinson",
                                   **budget)
  return {
      "mean_loss": jax.jit(lambda p, bs: _example_mean(loss_fn, p, bs)),
      "traces": {m: jax.jit(functools.partial(curvature.hessian_trace, loss_fn, method=m, **budget))
                 for m in methods},
      "fisher": jax.jit(lambda p, x, k: curvature.fisher_trace(logits_fn, p, x, k, num_samples=fisher_samples)),
      "lanczos": jax.jit(lambda p, bs, k: curvature.lanczos_eigenvalues(
          curvature.hessian_matvec(loss_fn, p, bs), p, k, 1, lanczos_iters)),
      "downstream": jax.jit(downstream),
      "downstream_loss": jax.jit(lambda p, head, bs: _example_mean(downstream_loss_fn(model, head, pooling), p, bs)),
      "sharpness": _sharpness_programs(loss_fn, logits_fn, sharpness_samples, sharpness_steps),
  }


def _programs_for(model, cfg, methods) -> dict:
  """The compiled programs for a curvature config; curvature.rtol = 0 in a config means a fixed budget."""
  if cfg.rtol < 0:
    raise ValueError(f"curvature.rtol={cfg.rtol}: use 0 for a fixed budget of num_matvecs, or a positive relative "
                     "standard error to stop at")
  sharpness_settings(cfg)  # named before anything is compiled or measured
  return compiled_programs(model, tuple(methods), cfg.num_matvecs, cfg.rtol or None, cfg.max_matvecs,
                           cfg.fisher_samples, cfg.lanczos_iters, cfg.pooling, int(cfg.get("sharpness_samples", 0)),
                           int(cfg.get("sharpness_steps", 0)))


class Measurer:
  """The curvature functions of one run (`compiled_programs`, shared by runs of one architecture) and its
  fixed curvature set; `measure(step, key)` measures one checkpoint."""

  def __init__(self, run: rundir.RunDir, cfg):
    self.run, self.cfg = run, cfg
    self.batches = pretraining_batches(run.language, cfg.num_pairs, cfg.batch_size, cfg.seed)
    progs = _programs_for(run.model, cfg, fields.split_list(cfg.methods))
    self.mean_loss, self.traces, self.fisher = progs["mean_loss"], progs["traces"], progs["fisher"]
    self.lanczos, self.downstream = progs["lanczos"], progs["downstream"]
    self.downstream_loss, self.sharpness = progs["downstream_loss"], progs["sharpness"]
    self.rho = dict(sharpness_settings(cfg))  # name -> ρ, in the config's order
    self._init_embedding()

  def _init_embedding(self):
    """The larger run named by cfg.embed_into (the same seed of that arm), checked before any measurement."""
    self.embed_into = self.cfg.get("embed_into", "")
    self.large = None
    if not self.embed_into:
      return
    large_dir = self.run.sibling(self.embed_into)
    if not os.path.exists(os.path.join(large_dir, layout.CONFIG)):
      raise ValueError(f"curvature.embed_into={self.embed_into!r}: {large_dir} is not a run directory")
    if os.path.normpath(large_dir) == os.path.normpath(self.run.workdir):
      return  # the largest run is its own embedding
    large = rundir.RunDir(large_dir)
    if large.config.data.to_dict() != self.run.config.data.to_dict():
      raise ValueError(f"curvature.embed_into={self.embed_into!r}: {large_dir} was trained on another language")
    embed_lib.check_embeddable(self.run.config.model, large.config.model)
    self.large = large
    progs = _programs_for(large.model, self.cfg, ["hutchinson"])
    self.embedded_trace, self.embedded_loss = progs["traces"]["hutchinson"], progs["mean_loss"]

  def _measure_embedded(self, params, loss: float, own: records.Estimate, key) -> dict:
    """Curvature fields of Tr(H) embedded into the larger architecture ({} without embed_into)."""
    if not self.embed_into:
      return {}
    if self.large is None:  # this run is the target architecture: the embedding is the identity
      return {"embedded": own, "embedded_into": self.embed_into, "embedded_loss": loss} if own.present else {}
    big = embed_lib.embed_params(params, self.run.config.model, self.large.config.model,
                                 jax.random.key(self.cfg.seed))
    est, sec = _timed(lambda: self.embedded_trace(big, self.batches, key))
    return {"embedded": _estimate(est, sec), "embedded_into": self.embed_into,
            "embedded_loss": float(self.embedded_loss(big, self.batches)), "embedded_params": count_params(big)}

  def fisher_inputs(self) -> dict:
    """The inputs of the Fisher estimators: the first `fisher_examples` curvature pairs, without their targets."""
    return {k: jnp.concatenate([b[k] for b in self.batches])[:self.cfg.fisher_examples]
            for k in ("inputs", "positions")}

  def measure_sharpness(self, params, key) -> tuple:
    """({name: records.Estimate}, {name: ρ}) of the configured sharpness measures at `params` (module docstring).
    Measure SHARPNESS[i] draws from fold_in(key, _SHARPNESS_FOLD + i), whichever others are configured."""
    out = {}
    for name, rho in self.rho.items():
      kind = name.removeprefix("adaptive_")
      scale = None
      if rho is not None:
        scale = jax.tree.map(lambda x, r=rho, a=name != kind: r * (jnp.abs(x) if a else jnp.ones_like(x)), params)
      data = self.fisher_inputs() if name == FISHER_RAO else self.batches
      k = jax.random.fold_in(key, _SHARPNESS_FOLD + SHARPNESS.index(name))
      (value, stderr, dof, cost, converged), sec = _timed(
          lambda fn=self.sharpness[kind], data=data, k=k, scale=scale: fn(params, data, k, scale))
      worst = kind == WORST
      out[name] = records.Estimate(value=float(value), stderr=float(stderr), dof=float(dof), cost=int(cost),
                                   unit="gradients" if worst else "samples", seconds=sec,
                                   converged=bool(converged) if worst else None)
    return out, {n: r for n, r in self.rho.items() if r is not None}

  def measure(self, step: int, key) -> records.Curvature:
    """All curvature quantities of one checkpoint (see the module docstring)."""
    cfg, run, lang = self.cfg, self.run, self.run.language
    params = run.params(step)
    loss = float(self.mean_loss(params, self.batches))
    keys = jax.random.split(key, _NUM_KEYS)
    hessian = {}
    for i, (method, fn) in enumerate(self.traces.items()):
      est, sec = _timed(lambda: fn(params, self.batches, keys[i]))
      hessian[method] = _estimate(est, sec)
    fisher_inputs = self.fisher_inputs()
    est, sec = _timed(lambda: self.fisher(params, fisher_inputs, keys[_FISHER_KEY]))
    fisher = _estimate(est, sec, unit="gradients")
    embedded = self._measure_embedded(params, loss, hessian.get(records.HUTCHINSON, records.MISSING),
                                      jax.random.fold_in(key, _EMBEDDED_FOLD))
    res, sec = _timed(lambda: self.lanczos(params, self.batches, keys[_LANCZOS_KEY]))
    top = records.Eigenvalue(float(res.eigenvalues[0]), float(res.residual_norms[0]), cfg.lanczos_iters, sec)
    downstream, probe_loss = {}, {}
    for task in fields.split_list(cfg.tasks):
      data = task_data.task_dataset(lang, task, cfg.downstream_examples, cfg.seed + 1)
      feats = readout.encoder_features(run.model, params, data.tokens, data.lengths, lang.vocab_size, cfg.pooling)
      head = readout.fit_linear_head(feats, data.labels, data.num_classes, cfg.head_epochs * 10)
      inputs = np.asarray(batching.model_inputs(data.tokens, data.lengths, lang.vocab_size))
      dbatches = [{"inputs": jnp.asarray(inputs[i:i + cfg.batch_size]),
                   "lengths": jnp.asarray(data.lengths[i:i + cfg.batch_size]),
                   "labels": jnp.asarray(data.labels[i:i + cfg.batch_size])}
                  for i in range(0, len(inputs), cfg.batch_size)]
      est, sec = _timed(lambda: self.downstream(params, head, dbatches, keys[_DOWNSTREAM_KEY]))
      downstream[task] = _estimate(est, sec)
      probe_loss[task] = float(self.downstream_loss(params, head, dbatches))
    measures, rho = self.measure_sharpness(params, key)
    return records.Curvature(step=step, loss=loss, hessian=hessian, fisher=fisher, lambda_max=top,
                             downstream=downstream, probe_loss=probe_loss, measures=measures, measure_rho=rho,
                             **embedded)
