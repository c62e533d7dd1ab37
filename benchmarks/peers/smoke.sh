#!/usr/bin/env bash
# Smoke run of every peer runner (10 evaluations, seed 0) into /tmp/jahs_bo_peer_quick/<optimizer>/.
# Not part of the test suite (the peers' venvs are not in CI): run by hand after setup.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PYTHONPATH=. OMP_NUM_THREADS=1
E=benchmarks/peers/envs
for o in optuna-tpe optuna-gp; do
    "$E/optuna/bin/python" -m benchmarks.peers.run_optuna --optimizer "$o" --quick
done
"$E/optuna/bin/python" -m benchmarks.peers.run_optuna --optimizer optuna-nsga2 --problem nb201-mo/cifar10 --quick
"$E/smac/bin/python" -m benchmarks.peers.run_smac --optimizer smac-hpo --quick
"$E/smac/bin/python" -m benchmarks.peers.run_smac --optimizer smac-mf --problem nb201-mf/cifar10 --quick
"$E/dehb/bin/python" -m benchmarks.peers.run_dehb --quick
"$E/dehb/bin/python" -m benchmarks.peers.run_dehb --problem nb201-mf/cifar10 --quick
"$E/neps/bin/python" -m benchmarks.peers.run_neps --quick
"$E/neps/bin/python" -m benchmarks.peers.run_neps --problem nb201-mf/cifar10 --quick
echo "peer smoke runs: all passed"
