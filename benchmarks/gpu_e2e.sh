#!/usr/bin/env bash
# The GPU part of the benchmarks, end to end, on one CUDA GPU (bf16 autocast through --precision auto):
# teacher candidates per data set (benchmarks/foundation.py --teachers-only), then every distillation
# variant (benchmarks/distill.py). Finished stages are skipped and interrupted ones resume, as on a CPU.
#
#   ZHCLS_DATA_DIR=../shared/datasets bash benchmarks/gpu_e2e.sh [UNLABELED_FOR_ONLINE_SHOPPING.txt]
#
# Run the TF-IDF baselines and the reports on any machine afterwards: python benchmarks/foundation.py
# (it skips the teachers that exist) and python benchmarks/distill.py.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
"$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to torch')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$python" benchmarks/foundation.py --teachers-only
unlabeled=("chnsenticorp=${ZHCLS_DATA_DIR:?set ZHCLS_DATA_DIR to the folder with the data set CSVs}/online_shopping_10_cats.csv")
if [ -n "${1:-}" ]; then unlabeled+=("online-shopping-10=$1"); fi
"$python" benchmarks/distill.py --no-report --unlabeled "${unlabeled[@]}"
