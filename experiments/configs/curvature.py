"""Curvature of a trained run: Tr(H) (Hutchinson, Hutch++), the paper's Fisher estimator, λ_max, the trace of a
probe head's downstream loss w.r.t. the encoder, and the sharpness measures (average / worst case, plain / adaptive,
Fisher–Rao), written to <run>/curvature.json.

Command:  python -m experiments.main --config=configs/curvature.py --workdir=runs/quickstart/cpu_s
          (--workdir is the run directory to measure; --config.curvature.steps=all for every checkpoint)
Runtime:  about 1 minute per checkpoint for the quickstart's cpu_s model on 2 CPU cores.
Reaches:  near the optimum the Fisher and Hessian traces agree within their error bars (a diagnostic of
          saturation); each estimate carries its SE and 95% interval.
"""
import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.job = "curvature"
  c.name = "curvature"
  c.curvature = ml_collections.ConfigDict()
  c.curvature.steps = "last"          # 'last', 'all', or comma-separated checkpointed steps.
  c.curvature.methods = "hutchinson,hutchpp"  # Hessian-trace estimators (hutchinson, hutchpp, xtrace).
  c.curvature.num_matvecs = 30        # Initial/minimum Hessian-vector products per estimate.
  c.curvature.rtol = 0.02             # Stop at this relative SE (0: fixed budget num_matvecs).
  c.curvature.max_matvecs = 300       # Cap on HVPs per estimate.
  c.curvature.num_pairs = 1024        # Held-out (sentence, position) pairs defining the pre-training loss.
  c.curvature.batch_size = 128        # Pairs per Hessian batch (microbatch: the estimate is the same for any
  #                                     size; 128 was the fastest per HVP on 2 cores, benchmarks/bench_pyhessian.py).
  c.curvature.fisher_examples = 1024  # Examples for the Fisher estimator (SE over examples).
  c.curvature.fisher_samples = 1      # Labels sampled per example.
  c.curvature.lanczos_iters = 20      # Lanczos iterations for λ_max.
  c.curvature.tasks = "A"             # Downstream tasks whose probe-loss trace is measured ('' for none).
  c.curvature.downstream_examples = 1024  # Sentences for the probe head and its loss.
  c.curvature.pooling = "concat"      # Probe features: 'concat' (paper) or 'mean'.
  c.curvature.head_epochs = 50        # Full-batch AdamW epochs (×10 steps) fitting the probe head.
  c.curvature.embed_into = ""         # Run name (sibling directory) whose architecture every run is embedded into
                                      # for a second Tr(H) in one parameterization ('' = none; configs/model_size.py).
  # Sharpness measures (flatness_jax.eval.curvature.SHARPNESS) on the same pairs as Tr(H), for the report's
  # comparison of measures ("which flatness measure predicts accuracy beyond loss and size"); '' for none. The
  # average-case ones share one compiled program (loss evaluations only); 'worst,adaptive_worst' add an ascent
  # program (sharpness_steps + 1 gradients each) whose compilation costs about as much as the rest together.
  c.curvature.sharpness = "average,adaptive_average,fisher_rao"
  c.curvature.rho = ml_collections.ConfigDict()  # Radius ρ of each measure (recorded with its value):
  c.curvature.rho.average = 0.01          # per-coordinate SD of the Gaussian perturbation δ;
  c.curvature.rho.adaptive_average = 0.1  # the same for δ scaled by |θ| (a relative perturbation of each weight);
  c.curvature.rho.worst = 0.05            # radius of the ball ‖δ‖₂ ≤ ρ (SAM's default);
  c.curvature.rho.adaptive_worst = 0.5    # the same for δ scaled by |θ|.
  c.curvature.sharpness_samples = 16      # Antithetic pairs per average-case measure (2·samples + 1 losses).
  c.curvature.sharpness_steps = 10        # Projected ascent steps per worst-case measure (steps + 1 gradients).
  c.curvature.same_probes = False     # Same probes at every checkpoint (common random numbers for drifts).
  c.curvature.seed = 7                # Seed of pairs, probes and label draws (fixed: runs are comparable).
  return c
