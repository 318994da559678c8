#!/usr/bin/env bash
# A few-minute throughput check on one H100-class GPU: bert_235m training at the paper PCFG shape (V=200, L=32),
# bf16 compute, at the largest batch that fits: tokens/s and model FLOP utilisation (FLOPs from
# flatness_jax/parallel/resources.py), and the cost of one Hutchinson Hessian-trace estimate in gradient evaluations.
#
# Usage (repository root; the package and jax[cuda12] installed: pip install -e ./curvature -e ".[cuda]"):
#   launch/gpu_check.sh [--out=gpu_check.json] [--preset=bert_235m] [--batch=N] [--steps=30]   # on the GPU
#   launch/gpu_check.sh --tiny --out=/tmp/gpu_check.json       # the same code path on CPU in seconds
# Flags are those of launch/gpu_check.py (see its docstring). GPU_CHECK_TIMEOUT (seconds, default 900) bounds
# the run; PYTHON selects the interpreter (default: python).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
export XLA_PYTHON_CLIENT_MEM_FRACTION="${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}"
export PYTHONPATH="${repo_root}${PYTHONPATH:+:${PYTHONPATH}}"
tiny=0
for a in "$@"; do
  [[ "$a" == "--tiny" ]] && tiny=1
done
if [[ "$tiny" == 1 ]]; then
  export JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
elif command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
exec timeout "${GPU_CHECK_TIMEOUT:-900}" "${PYTHON:-python}" launch/gpu_check.py "$@"
