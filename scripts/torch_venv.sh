#!/usr/bin/env bash
# Creates (once) the PyTorch venv the side-by-side benchmark uses and prints its python:
# torch 2.15.0 and torchvision 0.29.2 from PyPI (about 5 GB with the CUDA libraries the PyPI
# wheels pull in; it runs on the CPU). CONVLAB_TORCH_VENV overrides the location.
set -euo pipefail
venv="${CONVLAB_TORCH_VENV:-$HOME/.cache/convlab/torch}"
if ! "$venv/bin/python" -c 'import torch, sys; sys.exit(not torch.__version__.startswith("2.15.0"))' 2>/dev/null; then
  echo "creating $venv with torch 2.15.0 (about 5 GB, once)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check torch==2.15.0 torchvision==0.29.2 >&2
fi
echo "$venv/bin/python"
