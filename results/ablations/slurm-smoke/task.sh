#!/usr/bin/env bash
# One task of a convlab ablation suite: runs line SLURM_ARRAY_TASK_ID + 1 of the manifest.
set -u
line=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" /tmp/slurm-ev/residual/20261206-192532/slurm/manifest.txt)
exec bash -c "$line"
