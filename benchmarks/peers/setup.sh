#!/usr/bin/env bash
# Create one virtual environment per peer library and install pinned versions. Run from anywhere:
# `bash benchmarks/peers/setup.sh [peer ...]` (default: all). The peers' pins conflict with
# jahs-bo's (NePS pins older botorch/gpytorch), so each gets its own env.
# The envs live outside the repository (third-party code stays out of the source tree), in
# $JAHS_BO_PEER_ENVS (default ~/.cache/jahs-bo/peer-envs); benchmarks/peers/envs is a link to it,
# so the harness finds each peer at benchmarks/peers/envs/<peer>/bin/python.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3.11}"
ENVS="${JAHS_BO_PEER_ENVS:-$HOME/.cache/jahs-bo/peer-envs}"
mkdir -p "$ENVS"
if [ -d "$HERE/envs" ] && [ ! -L "$HERE/envs" ]; then
    echo "benchmarks/peers/envs is a directory (an older layout): move it to $ENVS" >&2
    exit 1
fi
ln -sfn "$ENVS" "$HERE/envs"

COMMON=(numpy pandas onnxruntime)
TORCH="torch==2.13.0"   # CPU build; pinned first so nothing pulls a CUDA torch

make_env() {  # make_env NAME
    local env="$ENVS/$1"
    [ -x "$env/bin/python" ] || "$PY" -m venv "$env"
    "$env/bin/python" -m pip install -q --upgrade pip
}

install_optuna() {
    make_env optuna
    # GPSampler needs torch; install the CPU torch first.
    "$ENVS/optuna/bin/pip" install -q "$TORCH"
    "$ENVS/optuna/bin/pip" install -q "optuna==5.0.0" scipy "${COMMON[@]}"
}

install_smac() {
    make_env smac
    "$ENVS/smac/bin/pip" install -q "smac==2.4.1" "${COMMON[@]}"
}

install_dehb() {
    make_env dehb
    "$ENVS/dehb/bin/pip" install -q "dehb==0.1.2" "${COMMON[@]}"
}

install_neps() {
    make_env neps
    # NePS depends on torchvision, which would pull a CUDA torch: pin the CPU pair first.
    "$ENVS/neps/bin/pip" install -q "$TORCH" "torchvision==0.28.0"
    "$ENVS/neps/bin/pip" install -q "neural-pipeline-search==0.17.0" "$TORCH" "torchvision==0.28.0" \
        "${COMMON[@]}"
}

peers=("$@")
[ ${#peers[@]} -gt 0 ] || peers=(optuna dehb smac neps)
for p in "${peers[@]}"; do
    echo "== $p"
    "install_$p"
    "$ENVS/$p/bin/pip" freeze > "$ENVS/$p/freeze.txt"
done
