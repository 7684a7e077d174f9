# convlab tasks. One build profile and one target directory outside the clone, shared with
# .ci/run and the scripts, so Burn (~13 min cold for flex + ndarray, ~26 more with wgpu, on 2 Zen 4 cores) is compiled once.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", env_var("HOME") / ".cache/convlab/target")

# Backends compiled in besides flex and ndarray, e.g. `just features=wgpu train smoke --backend wgpu`
# (or CONVLAB_FEATURES=wgpu in the environment).
features := env_var_or_default("CONVLAB_FEATURES", "")
cargo_features := if features == "" { "" } else { "--features " + features }
convlab := "cargo run -q " + cargo_features + " --bin convlab --"

# List the tasks.
default:
    @just --list

# Build the workspace with every backend (as the tests do).
build:
    cargo build --workspace --all-features

# Run the whole test suite (README's test command: installs and starts what the tests need).
test *args:
    scripts/test.sh {{args}}

# Train a recipe, e.g. `just train vgg-cifar` or `just train smoke --backend flex --epochs 1`.
train recipe *args:
    {{convlab}} train {{recipe}} {{args}}

# Resume an interrupted run from its last checkpoint.
resume run_dir *args:
    {{convlab}} train --resume {{run_dir}} {{args}}

# Evaluate a run's best checkpoint on the test split (with a confusion matrix).
eval run_dir *args:
    {{convlab}} eval {{run_dir}} {{args}}

# List the recipes.
recipes:
    {{convlab}} recipes

# Dataset info, e.g. `just data info fashion-mnist`.
data *args:
    {{convlab}} data {{args}}

# Every architecture with its default input, parameters and MACs.
models:
    {{convlab}} models

# Per-layer table of one architecture, e.g. `just summary resnet20 --input 3x32x32`.
summary arch *args:
    {{convlab}} summary {{arch}} {{args}}

# Compare backends on the same weights (default set: one model per family).
compare-backends *args:
    {{convlab}} compare-backends {{args}}

# Training and inference images/s per model and backend, e.g. `just bench --arch resnet20`.
bench *args:
    {{convlab}} bench {{args}}

# convlab (flex) against PyTorch 2.15 (NCHW and channels_last) side by side, interleaved, with
# the ratio to the faster PyTorch mode per model; `--real-path`: lenet-fashion epochs instead.
# Creates ~/.cache/convlab/torch (torch 2.15.0 from PyPI, about 5 GB) the first time.
bench-vs-torch *args:
    cargo build -q {{cargo_features}} --bin convlab
    "$(scripts/torch_venv.sh)" scripts/bench_vs_torch.py --convlab "$CARGO_TARGET_DIR/debug/convlab" {{args}}

# Pack the GPU check (a convlab with wgpu/Vulkan and without oneDNN, the Vulkan loader, the
# PyTorch peer) into gpu-pack/; on the GPU machine: `gpu-pack/gpu-check.sh check OUT`.
gpu-pack *args:
    scripts/gpu-check.sh pack {{args}}

# Run an ablation suite, e.g. `just ablate residual --budget short --dataset fashion-mnist --jobs 2`.
ablate suite *args:
    {{convlab}} ablate {{suite}} {{args}}

# The transferability study (Yosinski et al. 2014 at LeNet scale on Fashion-MNIST): the base
# networks first, then the transfer runs that start from them (about 20 minutes on 2 cores).
transfer-study *args:
    {{convlab}} ablate transfer-base --dataset fashion-mnist --jobs 2 {{args}}
    {{convlab}} ablate transferability --dataset fashion-mnist --jobs 2 {{args}}

# Random search, e.g. `just search lenet-fashion experiments/search/lenet-fashion-lr-wd.toml --jobs 2`.
search recipe space *args:
    {{convlab}} search {{recipe}} --space {{space}} {{args}}

# Average runs' predictions, e.g. `just ensemble runs/lenet-fashion/*` or
# `just ensemble ablations/residual/<report> --variant residual-20`.
ensemble *members:
    {{convlab}} ensemble {{members}}

# The shipped ablation suites, one line each.
ablations:
    {{convlab}} ablations

# Import a torchvision state dict, e.g. `just import resnet18 resnet18.pth --out weights/resnet18`.
import arch file *args:
    {{convlab}} import {{arch}} {{file}} {{args}}

# Export weights or a run's best checkpoint with torchvision's names (safetensors).
export source *args:
    {{convlab}} export {{source}} {{args}}

# Top-k classes of images, e.g. `just predict weights/resnet18.bpk cat.jpg`.
predict weights *images:
    {{convlab}} predict {{weights}} {{images}}

# Class activation maps (CAM, or Grad-CAM for FC heads), e.g.
# `just cam runs/lenet-fashion/20261122-134536 shirt.png --out cam`.
cam weights *args:
    {{convlab}} cam {{weights}} {{args}}

# A run's self-contained HTML report (runs write it when they end), e.g.
# `just report runs/lenet-fashion/20261122-134536`.
report run_dir *args:
    {{convlab}} report {{run_dir}} {{args}}

# torchvision parity for every torchvision architecture (CI runs five of them; vgg19 and
# resnet152 write state dicts of 550 MB and 240 MB to a temporary directory).
torchvision-parity:
    CONVLAB_TORCHVISION_ALL=1 cargo test --all-features --test models torchvision -- --nocapture

# Regenerate the PyTorch reference values of tests/golden (Debian's python3-torch).
golden:
    /usr/bin/python3 scripts/golden/make_golden.py

# Format and lint.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings
