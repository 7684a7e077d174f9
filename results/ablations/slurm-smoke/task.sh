#!/usr/bin/env bash
# One task of a convlab ablation suite: runs line SLURM_ARRAY_TASK_ID + 1 of the manifest.
set -u
line=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" /root/evidence/slurm/residual/20261122-090848/slurm/manifest.txt)
exec bash -c "$line"
