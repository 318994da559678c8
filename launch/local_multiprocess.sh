#!/usr/bin/env bash
# Starts N JAX processes on this machine that form one multi-process run (CPU, gloo collectives).
#
# Usage:
#   launch/local_multiprocess.sh [--dry-run] [--module=MOD] [--log-dir=DIR] N [DEVICES_PER_PROCESS] -- ARGS...
#
# Process i (0..N-1) runs `python -m MOD ARGS...` (MOD defaults to experiments.main) from the repository root with
#   JAX_PLATFORMS=cpu
#   XLA_FLAGS=--xla_force_host_platform_device_count=DEVICES_PER_PROCESS   (default 1)
#   JAX_COORDINATOR_ADDRESS=127.0.0.1:PORT  JAX_NUM_PROCESSES=N  JAX_PROCESS_ID=i
# which flatness_jax.parallel.distributed.maybe_initialize() turns into jax.distributed.initialize(...), so the run
# sees N * DEVICES_PER_PROCESS global devices. The script waits for all processes and exits non-zero if any fails
# (the others are then stopped). SIGINT and SIGTERM are passed on to every process, and the script keeps waiting:
# a training run checkpoints a step all processes agree on and exits with status 75 (stopped, resumable), which the
# script returns. With --log-dir, process i writes its output to DIR/process_i.log instead of the
# terminal. PORT is $FLATNESS_PORT or a free port. PYTHON selects the interpreter (default: python).
#
# Example (2 processes x 2 devices = the 4-device run of configs/tiny.py):
#   launch/local_multiprocess.sh 2 2 -- --config=configs/tiny.py --workdir=/tmp/tiny_mp
set -euo pipefail

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit "${1:-2}"
}

dry_run=0
module="experiments.main"
log_dir=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) dry_run=1; shift ;;
    --module=*) module="${1#--module=}"; shift ;;
    --log-dir=*) log_dir="${1#--log-dir=}"; shift ;;
    -h|--help) usage 0 ;;
    *) break ;;
  esac
done

[[ $# -ge 1 ]] || usage
num_processes="$1"; shift
devices_per_process=1
if [[ $# -ge 1 && "$1" != "--" ]]; then
  devices_per_process="$1"; shift
fi
if [[ $# -ge 1 ]]; then
  [[ "$1" == "--" ]] || { echo "expected -- before the program arguments, got: $1" >&2; usage; }
  shift
fi
[[ "$num_processes" =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive integer: $num_processes" >&2; exit 2; }
[[ "$devices_per_process" =~ ^[1-9][0-9]*$ ]] || {
  echo "DEVICES_PER_PROCESS must be a positive integer: $devices_per_process" >&2; exit 2; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python_bin="${PYTHON:-python}"
if [[ -n "${FLATNESS_PORT:-}" ]]; then
  port="$FLATNESS_PORT"
elif [[ "$dry_run" == 1 ]]; then
  port="PORT"
else
  port="$("$python_bin" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi
coordinator="127.0.0.1:${port}"

set_assignments() {  # Sets the array `assignments`: the environment of process $1.
  assignments=("JAX_PLATFORMS=cpu"
    "XLA_FLAGS=--xla_force_host_platform_device_count=${devices_per_process}"
    "JAX_COORDINATOR_ADDRESS=${coordinator}" "JAX_NUM_PROCESSES=${num_processes}" "JAX_PROCESS_ID=$1"
    "PYTHONPATH=${repo_root}${PYTHONPATH:+:${PYTHONPATH}}")
}

if [[ "$dry_run" == 1 ]]; then
  for ((i = 0; i < num_processes; i++)); do
    set_assignments "$i"
    line="(cd ${repo_root} && env"
    for a in "${assignments[@]}"; do line+=" $(printf '%q' "$a")"; done
    line+=" ${python_bin} -m ${module}"
    for a in "$@"; do line+=" $(printf '%q' "$a")"; done
    line+=")"
    [[ -n "$log_dir" ]] && line+=" > ${log_dir}/process_${i}.log 2>&1"
    echo "$line &"
  done
  echo "wait  # all ${num_processes} processes; non-zero exit if any fails"
  exit 0
fi

[[ -n "$log_dir" ]] && mkdir -p "$log_dir"
pids=()
EXIT_STOPPED=75
stop_all() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
}
# shellcheck disable=SC2317  # called from the traps below
forward() {  # Passes signal $1 on to every process; the wait loop below goes on until they exit.
  echo "local_multiprocess: SIG$1; passing it on to the processes" >&2
  for pid in "${pids[@]}"; do
    kill -s "$1" "$pid" 2>/dev/null || true
  done
}
trap 'forward INT' INT
trap 'forward TERM' TERM

cd "$repo_root"
for ((i = 0; i < num_processes; i++)); do
  set_assignments "$i"
  if [[ -n "$log_dir" ]]; then
    env "${assignments[@]}" "$python_bin" -m "$module" "$@" > "${log_dir}/process_${i}.log" 2>&1 &
  else
    env "${assignments[@]}" "$python_bin" -m "$module" "$@" &
  fi
  pids+=("$!")
done

status=0
remaining="$num_processes"
while ((remaining > 0)); do
  rc=0
  finished=""
  wait -n -p finished || rc=$?
  if [[ -z "${finished:-}" ]]; then
    ((rc > 128)) && continue  # a trapped signal interrupted the wait
    break                     # no child left
  fi
  remaining=$((remaining - 1))
  if [[ "$rc" != 0 && "$status" == 0 ]]; then
    status="$rc"
    if [[ "$rc" != "$EXIT_STOPPED" ]]; then  # stopped processes stop together; a failure stops the rest
      echo "local_multiprocess: process ${finished} exited with status ${rc}; stopping the others" >&2
      stop_all
    fi
  fi
done
trap - INT TERM
exit "$status"
