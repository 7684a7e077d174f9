#!/usr/bin/env bash
# README's test command: installs and starts what the tests need, then runs every test.
#
#   scripts/test.sh [cargo test arguments…]       e.g. scripts/test.sh -- real_fashion
#
# Needs root or sudo (apt-get, and the one-node Slurm cluster the executor's test submits to);
# on a machine that has everything, the checks take seconds. `.ci/run` calls this. A failed
# install fails the run: the tests that need a package must not pass by skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

# One target directory outside the clone, shared with the justfile, so a warm cache on this
# machine is reused (with every backend Burn took 26 min here after the default build, Zen 4, 2 cores).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/convlab/target}"
# Mesa's Vulkan loader wants a runtime directory (it prints an error line without one).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

# System packages:
# - mesa-vulkan-drivers: a software Vulkan device for the wgpu backend's parity tests;
# - dataset-fashion-mnist: the real-data tests;
# - libdnnl-dev: oneDNN, the convolution kernels behind convlab-kernels' `onednn` feature;
# - python3-torch, python3-torchvision: PyTorch for `scripts/golden` and torchvision-written
#   weights in the transfer tests;
# - chromium: the report test renders report.html in headless Chromium;
# - python3-venv: the venv for the Python packages from PyPI (below);
# - binutils, xz-utils: `strip` and `xz` for the GPU check's pack (scripts/gpu-check.sh).
# (slurm-wlm and munge are installed by scripts/slurm-one-node.sh below, which keeps their
# package scripts from starting the daemons it starts itself.)
packages=(mesa-vulkan-drivers libvulkan1 dataset-fashion-mnist libdnnl-dev python3-torch python3-torchvision chromium python3-venv binutils xz-utils)
need=()
for p in "${packages[@]}"; do
  # Installed, not merely known (a removed package keeps its config files and `dpkg -s` succeeds).
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  install_start=$(date +%s)
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  echo "test.sh: installed ${need[*]} in $(( $(date +%s) - install_start ))s"
fi

# Python packages from PyPI, in one venv the tests find through $CONVLAB_PYTHON:
# `tensorboard` reads back the runs' event files (tests/training/diagnostics.rs); `onnxruntime`
# and `onnx` run and check the ONNX exports (tests/models/onnx.rs).
py_venv="$HOME/.cache/convlab/pyenv"
py_packages=(tensorboard==2.21.0 onnx==1.23.2 onnxruntime==1.32.0)
if ! "$py_venv/bin/python" -c "import tensorboard, onnx, onnxruntime" >/dev/null 2>&1; then
  py_start=$(date +%s)
  python3 -m venv "$py_venv"
  "$py_venv/bin/pip" install -q --disable-pip-version-check "${py_packages[@]}"
  echo "test.sh: installed ${py_packages[*]} in $(( $(date +%s) - py_start ))s"
fi
export CONVLAB_PYTHON="$py_venv/bin/python"

# oneDNN 3.x beside Debian's 2.6, for the test that compiles the oneDNN shim against both APIs
# it speaks (tests/numerics/kernels.rs): PyPI's GNU-OpenMP build (its libdnnl needs only libgomp
# and libstdc++), headers and the one library file the soname names, with libdnnl.so a link.
onednn3="$HOME/.cache/convlab/onednn-3.2.0"
if [ ! -e "$onednn3/lib/libdnnl.so.3" ] || [ ! -e "$onednn3/include/dnnl.hpp" ]; then
  dnnl_start=$(date +%s)
  wheels=$(mktemp -d)
  "$py_venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$wheels" \
    onednn-cpu-gomp==2023.2.0 onednn-devel-cpu-gomp==2023.2.0
  rm -rf "$onednn3.tmp" && mkdir -p "$onednn3.tmp"
  "$py_venv/bin/python" - "$wheels" "$onednn3.tmp" <<'EOF'
import pathlib, sys, zipfile
wheels, out = map(pathlib.Path, sys.argv[1:])
for whl in wheels.glob("*.whl"):
    with zipfile.ZipFile(whl) as z:
        for name in z.namelist():
            rest = name.split(".data/data/", 1)[-1] if ".data/data/" in name else None
            if rest and (rest.startswith("include/") or rest == "lib/libdnnl.so.3"):
                dest = out / rest
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(name))
EOF
  ln -s libdnnl.so.3 "$onednn3.tmp/lib/libdnnl.so"
  rm -rf "$onednn3" "$wheels" && mv "$onednn3.tmp" "$onednn3"
  echo "test.sh: unpacked oneDNN 3.2 (PyPI onednn-cpu-gomp) in $(( $(date +%s) - dnnl_start ))s"
fi
export CONVLAB_ONEDNN3="$onednn3"

# A one-node Slurm cluster on this machine (scripts/slurm-one-node.sh; shared/reference has the
# configuration), stopped again however the tests end.
slurm_start=$(date +%s)
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO scripts/slurm-one-node.sh up
trap '$SUDO scripts/slurm-one-node.sh down' EXIT
echo "test.sh: Slurm up in $(( $(date +%s) - slurm_start ))s"

# wgpu's kernel autotuning at its minimal level: on a software Vulkan driver, with an empty
# cache (~/.cache/cubecl, a fresh machine), the default level's search costs minutes; the tests
# check results, and autotuning only chooses among correct kernels.
export CUBECL_AUTOTUNE_LEVEL="${CUBECL_AUTOTUNE_LEVEL:-minimal}"

start=$(date +%s)
# Every backend (wgpu is opt-in for `cargo run`) and every crate's tests.
cargo test --workspace --all-features "$@"
echo "test.sh: tests finished in $(( $(date +%s) - start ))s"

