#!/usr/bin/env bash
# The GPU check (issue 20): one command, under 8 minutes on a single GPU; figures into bench/RESULTS.md.
#   bench/gpu_check.sh             on a machine with a CUDA GPU and the lab installed (./.ci/install with a CUDA torch)
#   bench/gpu_check.sh --dry-run   every check on the CPU with tiny models: CI runs this so the script cannot rot
# Other arguments go to bench/gpu_check.py (--out DIR, --only cls,sft,...).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${VIRTUAL_ENV:-}" ]; then PY=python; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; export PATH="$PWD/.venv/bin:$PATH"; else PY=python3; fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec timeout 480 "$PY" bench/gpu_check.py "$@"
