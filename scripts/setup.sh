#!/usr/bin/env bash
# Create .venv and install zhcls with the extras given (default: train,bench,dev).
# torch==2.13.0 (a CPU build) goes in first: a bare torch requirement would pull a several-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-train,bench,dev}"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# On a GPU machine, ZHCLS_TORCH_SPEC=torch picks the CUDA build instead.
.venv/bin/python -m pip install --quiet "${ZHCLS_TORCH_SPEC:-torch==2.13.0}"
.venv/bin/python -m pip install --quiet -e ".[$extras]"
.venv/bin/zhcls --version
