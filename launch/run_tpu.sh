#!/usr/bin/env bash
# Runs `python -m experiments.main ARGS...` on every worker of a Cloud TPU VM slice (one process per host).
#
# From your machine (copies this checkout to every worker, installs it, starts all workers at once):
#   launch/run_tpu.sh --tpu=NAME --zone=ZONE [--project=P] [--dry-run] -- --config=configs/pcfg.py:paper \
#       --workdir=/mnt/shared/runs/pcfg_235m
# which runs, for you,
#   gcloud compute tpus tpu-vm scp flatness_jax.tgz NAME:~ --zone=ZONE --worker=all
#   gcloud compute tpus tpu-vm ssh NAME --zone=ZONE --worker=all \
#       --command="mkdir -p ~/flatness_jax && tar xzf ~/flatness_jax.tgz -C ~/flatness_jax && \
#                  cd ~/flatness_jax && launch/run_tpu.sh -- ARGS..."
#
# On a worker (what the ssh command runs; also usable by hand on a single-host TPU VM):
#   launch/run_tpu.sh [--dry-run] [--no-install] -- ARGS...
# installs the checkout with the tpu extra (`python -m pip install -e ./curvature -e ".[tpu]"`, skipped with --no-install or
# once it is installed), then runs `FLATNESS_DISTRIBUTED=tpu python -m experiments.main ARGS...`: every host calls
# jax.distributed.initialize() (flatness_jax.parallel.distributed), which reads the slice topology from the TPU
# metadata. Every host runs the same command; only process 0 writes metrics. The workdir must be one directory
# that all hosts see (Orbax writes each host's shards of a checkpoint there): a shared filesystem such as a
# Filestore NFS or gcsfuse mount at the same path on every worker. (A bare gs:// path is not supported: the
# metric writer uses plain file I/O.)
# --dry-run prints the commands instead of running them. PYTHON selects the interpreter (default: python3).
#
# Preemption: on a worker the script execs Python, so SIGTERM (what a preempted TPU VM's shutdown sends) reaches
# experiments.main directly: it finishes its running chunk, saves a checkpoint of a step every host agreed on, and
# exits with status 75 (EX_TEMPFAIL). Run the same command again (on the recreated slice) to resume from it.
set -euo pipefail

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit "${1:-2}"
}

dry_run=0
install=1
tpu=""
zone=""
project=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) dry_run=1; shift ;;
    --no-install) install=0; shift ;;
    --tpu=*) tpu="${1#--tpu=}"; shift ;;
    --zone=*) zone="${1#--zone=}"; shift ;;
    --project=*) project="${1#--project=}"; shift ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    *) echo "unknown option: $1 (program arguments go after --)" >&2; usage ;;
  esac
done
[[ $# -ge 1 ]] || { echo "no program arguments: give -- --config=... --workdir=..." >&2; usage; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python_bin="${PYTHON:-python3}"

run() {  # Prints (dry run) or runs a command.
  if [[ "$dry_run" == 1 ]]; then
    local line=""
    for a in "$@"; do line+="$(printf '%q' "$a") "; done
    echo "${line% }"
  else
    "$@"
  fi
}

quoted_args() {  # The program arguments, shell-quoted, for a remote command line.
  local line=""
  for a in "$@"; do line+=" $(printf '%q' "$a")"; done
  echo "$line"
}

if [[ -n "$tpu" ]]; then
  # Controller side: ship the checkout (tracked and untracked-but-not-ignored files) and start every worker.
  [[ -n "$zone" ]] || { echo "--tpu needs --zone" >&2; exit 2; }
  gcloud_flags=("--zone=${zone}")
  [[ -n "$project" ]] && gcloud_flags+=("--project=${project}")
  archive="${TMPDIR:-/tmp}/flatness_jax.tgz"
  if [[ "$dry_run" == 1 ]]; then
    echo "(cd $(printf '%q' "$repo_root") && git ls-files -co --exclude-standard -z | tar czf ${archive} --null -T -)"
  else
    (cd "$repo_root" && git ls-files -co --exclude-standard -z | tar czf "$archive" --null -T -)
  fi
  run gcloud compute tpus tpu-vm scp "$archive" "${tpu}:~/flatness_jax.tgz" "${gcloud_flags[@]}" --worker=all
  extra=""
  [[ "$install" == 0 ]] && extra=" --no-install"
  remote="mkdir -p ~/flatness_jax && tar xzf ~/flatness_jax.tgz -C ~/flatness_jax && cd ~/flatness_jax"
  remote+=" && launch/run_tpu.sh${extra} --$(quoted_args "$@")"
  run gcloud compute tpus tpu-vm ssh "$tpu" "${gcloud_flags[@]}" --worker=all --command="$remote"
  exit 0
fi

# Worker side.
cd "$repo_root"
if [[ "$install" == 1 ]]; then
  if [[ "$dry_run" == 1 ]] || ! { "$python_bin" -m pip show flatness_jax && "$python_bin" -c 'import libtpu'; } \
      >/dev/null 2>&1; then
    run "$python_bin" -m pip install --quiet -e ./curvature -e ".[tpu]"
  fi
fi
export FLATNESS_DISTRIBUTED=tpu
if [[ "$dry_run" == 1 ]]; then
  echo "export FLATNESS_DISTRIBUTED=tpu"
  run "$python_bin" -m experiments.main "$@"
  exit 0
fi
exec "$python_bin" -m experiments.main "$@"
