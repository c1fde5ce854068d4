#!/usr/bin/env bash
# One GPU session's benchmarks in one command, within about 8 minutes; small results only.
#
#   benchmarks/gpu.sh OUT_DIR [--tiny] [--budget-s SECONDS]
#
# Needs JAX with CUDA and the checkout on PYTHONPATH (torch for the PyTorch peers: they are skipped
# with an error row without it). On a GPU machine without zarr or a package index, first run
# ../shared/gpu/zarr-wheels.sh here and install its wheels as it says. Writes OUT_DIR/gpu.json,
# gpu.md (see benchmarks/gpu.py for the steps, most valuable first) and nvidia-smi.txt.
# --tiny: the same steps at toy sizes, to check the script on a CPU before GPU time is spent.
set -euo pipefail
out=${1:?usage: benchmarks/gpu.sh OUT_DIR [--tiny] [--budget-s SECONDS]}
shift
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi on this machine" > "$out/nvidia-smi.txt"
export PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}"
python3 "$here/gpu.py" --out "$out" "$@"
