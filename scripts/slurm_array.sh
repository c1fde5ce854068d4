#!/usr/bin/env bash
# Run a paper sweep as a Slurm job array: one part of the grid per array task, one GPU each.
#
#   rnnsweep init runs/broad.zarr sweeps/dcd_nopost_broad.toml     # once, on the login node
#   sbatch --array=0-15 scripts/slurm_array.sh sweeps/dcd_nopost_broad.toml runs/broad.zarr
#
# Each task trains part $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT (rnnsweep reads both), a
# disjoint set of whole store chunks. A task that dies is rerun alone:
#   sbatch --array=7 --export=ALL,SLURM_ARRAY_TASK_COUNT=16 scripts/slurm_array.sh SWEEP STORE
# and `rnnsweep info STORE` shows progress per part. Then: rnnsweep analyze STORE
#
#SBATCH --job-name=rnnsweep
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --output=runs/slurm-%A_%a.out
set -euo pipefail
SWEEP=${1:?usage: sbatch --array=0-(N-1) scripts/slurm_array.sh SWEEP STORE}
STORE=${2:?usage: sbatch --array=0-(N-1) scripts/slurm_array.sh SWEEP STORE}
# The array's size: Slurm sets SLURM_ARRAY_TASK_COUNT; keep an explicit value if given.
export SLURM_ARRAY_TASK_COUNT=${SLURM_ARRAY_TASK_COUNT:-$(( SLURM_ARRAY_TASK_MAX - SLURM_ARRAY_TASK_MIN + 1 ))}
exec rnnsweep run "$SWEEP" --store "$STORE" --quiet
