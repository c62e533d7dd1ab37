#!/usr/bin/env bash
# Run the peers' rows of a results table, one peer process at a time (the machine is shared).
# Usage: bash benchmarks/peers/run_table.sh OPTIMIZER SEEDS BUDGET PROBLEM [PROBLEM ...]
#   e.g. bash benchmarks/peers/run_table.sh optuna-tpe 0-19 100 nb201/cifar10 nb201/cifar100
# Writes benchmarks/results/<family>/runs/<problem with / as __>/<optimizer>/seed_<k>.csv (the
# harness layout of benchmarks/README.md) and skips seeds whose CSV already exists.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
opt="$1"; seeds="$2"; budget="$3"; shift 3
case "$opt" in
    optuna-*) peer=optuna ;; smac-*) peer=smac ;; dehb) peer=dehb ;; neps) peer=neps ;;
    *) echo "unknown optimizer $opt" >&2; exit 2 ;;
esac
for problem in "$@"; do
    family="${problem%%/*}"; family="${family%%-*}"
    out="benchmarks/results/$family/runs/${problem//\//__}/$opt"
    PYTHONPATH=. OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
        "benchmarks/peers/envs/$peer/bin/python" -m "benchmarks.peers.run_$peer" \
        --optimizer "$opt" --problem "$problem" --seed "$seeds" --budget "$budget" \
        --out-dir "$out" --skip-existing
done
