#!/usr/bin/env bash
# Creates .venv with the CPU build of PyTorch and jahs-bo (editable) with its test, benchmark,
# example, postgres and ray extras, and installs a PostgreSQL server (Debian/Ubuntu: apt-get) when
# none is found: the tests start one of their own (and a Ray cluster of their own, from the ray
# extra). Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# The CPU build of torch goes in first so that no dependency pulls a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev,bench,examples,postgres,ray]"
# The PostgreSQL storage's tests run a throwaway server (initdb + pg_ctl).
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q postgresql
fi
