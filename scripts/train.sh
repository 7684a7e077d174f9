#!/usr/bin/env bash
# README's first command: from a fresh Debian/Ubuntu machine to a real training run.
#
#   scripts/train.sh [RECIPE] [convlab train options…]      (RECIPE defaults to lenet-fashion)
#
# 1. checks the Rust toolchain (1.95 or newer) and a C/C++ compiler, and says how to get them;
# 2. installs oneDNN (`libdnnl-dev`, flex's fast convolutions) when it may (root, or sudo without a
#    password); otherwise the build says flex keeps Burn's slower convolutions, and training works;
# 3. builds convlab (flex + ndarray: the first build takes 10–15 minutes on 2 cores; wgpu is
#    `--features wgpu`, see README) in one target directory outside the clone, and trains.
#
# The data comes with the run: Fashion-MNIST from upstream's server, or without network from
# Debian's `dataset-fashion-mnist` package (fetched with `apt-get download`, no root needed).
set -euo pipefail
cd "$(dirname "$0")/.."

need_rust="1.95"
if ! command -v cargo >/dev/null 2>&1; then
  echo "convlab needs the Rust toolchain ($need_rust or newer): https://rustup.rs" >&2
  echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" >&2
  exit 1
fi
have_rust=$(rustc --version | awk '{print $2}')
if [ "$(printf '%s\n%s\n' "$need_rust" "$have_rust" | sort -V | head -1)" != "$need_rust" ]; then
  echo "convlab needs Rust $need_rust or newer; this is $have_rust (rustup update stable)" >&2
  exit 1
fi
if ! command -v c++ >/dev/null 2>&1; then
  echo "convlab needs a C/C++ compiler (Debian/Ubuntu: apt-get install build-essential)" >&2
  exit 1
fi

# oneDNN, when this user may install packages without being asked for a password.
if ! [ -f /usr/include/dnnl.hpp ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO="none"; fi
  fi
  if [ "$SUDO" = "none" ]; then
    echo "train.sh: oneDNN is not installed and installing it needs root; flex uses Burn's slower convolutions (sudo apt-get install libdnnl-dev, then run this again)" >&2
  else
    echo "train.sh: installing libdnnl-dev (oneDNN) …" >&2
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libdnnl-dev >/dev/null
  fi
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/convlab/target}"
recipe="${1:-lenet-fashion}"
[ $# -gt 0 ] && shift
exec cargo run --bin convlab -- train "$recipe" "$@"
