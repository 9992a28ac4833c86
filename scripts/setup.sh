#!/usr/bin/env bash
# Create .venv and install zhcls with the extras given (default: train,bench,offline,dev).
# torch==2.13.0 (a CPU build) goes in first: a bare torch requirement would pull a several-GB CUDA build.
#   ZHCLS_TORCH_SPEC=torch      the CUDA build, on a GPU machine
#   ZHCLS_VENV=DIR              another environment than .venv
#   ZHCLS_ALSO="REQ ..."        more requirements resolved together with zhcls's, e.g. "transformers>=5"
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-train,bench,offline,dev}"
venv="${ZHCLS_VENV:-.venv}"
read -r -a also <<< "${ZHCLS_ALSO:-}"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "${ZHCLS_TORCH_SPEC:-torch==2.13.0}"
"$venv/bin/python" -m pip install --quiet -e ".[$extras]" "${also[@]}"
"$venv/bin/zhcls" --version
