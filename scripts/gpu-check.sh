#!/usr/bin/env bash
# The GPU check: convlab's wgpu backend on a real GPU, beside PyTorch on CUDA.
#
#   scripts/gpu-check.sh pack [--out DIR] [--binary PATH]     # here: build and pack (default DIR: gpu-pack)
#   DIR/gpu-check.sh check OUT [--quick] [--convlab PATH]    # there: run the check, results in OUT
#
# `pack` builds convlab twice with wgpu and without oneDNN (so a binary needs nothing beyond
# glibc, libstdc++ and the Vulkan loader): with Burn's `vulkan` feature (kernels compiled to
# SPIR-V, cooperative matrices where the GPU has them) and without it (WGSL, the build the tests
# run on Mesa's lavapipe, which crashes on cubecl's SPIR-V, so the SPIR-V build cannot be run
# here); strips and compresses both and puts them beside this script, scripts/bench_torch.py,
# scripts/bench_vs_torch.py, scripts/cubecl_profile.py and Debian's Vulkan loader (`apt-get
# download libvulkan1`; the installed library when the download fails) in DIR, git-ignored,
# under 60 MiB. `--binary PATH` packs that binary as the WGSL one instead of building.
#
# `check` (on the GPU machine: Python 3 with PyTorch and CUDA, an NVIDIA driver with its Vulkan
# ICD, no Rust, no network) writes OUT/summary.md (the side-by-side table and each step's
# outcome), OUT/check.log (every command's output) and OUT/details.tar.gz (raw measurements, the
# smoke run's run.json and metrics.csv, cubecl's kernel profile), at most 8 files. Steps, each
# with a time limit, and the check goes on past a failed one:
#   1. nvidia-smi; the Vulkan loader (the system's, else the packed one) and the NVIDIA ICD;
#   2. the binary's libraries resolve (ldd);
#   3. compare-backends --backends flex,wgpu: the GPU agrees with the CPU (SPIR-V build; should
#      it fail, the WGSL build takes over for the rest);
#   4. bench_vs_torch.py --gpu: convlab bench --backend wgpu (SPIR-V and WGSL builds) and
#      bench_torch.py --device cuda (TF32 off/on, channels_last), lenet5, resnet20,
#      vgg16-bn-cifar, resnet18 at 224x224, batch 128, interleaved rounds, warm-up steps that
#      cover wgpu's autotuning;
#   5. train smoke --backend wgpu: the loss falls;
#   6. a kernel profile of resnet20's training steps on wgpu (cubecl's profiling log), summed per
#      kernel.
# `--quick` shrinks everything to a minute on a CPU (Mesa's lavapipe): the test suite runs it.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() { echo "gpu-check: $*" >&2; exit 2; }

pack() {
    local out="" binary=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --out) out="$2"; shift 2 ;;
            --binary) binary="$2"; shift 2 ;;
            *) die "pack: unknown argument $1 (expected --out DIR, --binary PATH)" ;;
        esac
    done
    local repo; repo="$(cd "$here/.." && pwd)"
    out="${out:-$repo/gpu-pack}"
    set -e
    local tmp; tmp="$(mktemp -d)"
    if [ -z "$binary" ]; then
        # shellcheck disable=SC1091
        [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
        export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/convlab/target}"
        # Two binaries, both without oneDNN: WGSL (the test build's Burn, so only convlab's own
        # crates compile again) and SPIR-V (Burn's `vulkan` feature: a second Burn build, about
        # 18 minutes on 2 cores the first time, cached after).
        local b="cargo build -q -p convlab-experiments --bin convlab --no-default-features"
        (cd "$repo" && $b --features ndarray,wgpu)
        cp "$CARGO_TARGET_DIR/debug/convlab" "$tmp/convlab-wgsl"
        (cd "$repo" && $b --features ndarray,wgpu,burn/vulkan)
        cp "$CARGO_TARGET_DIR/debug/convlab" "$tmp/convlab-spirv"
        # Put the usual binary (with oneDNN) back in place: its artifacts are still cached.
        (cd "$repo" && cargo build -q --bin convlab --all-features)
    else
        [ -x "$binary" ] || die "pack: no executable at $binary"
        cp "$binary" "$tmp/convlab-wgsl"
    fi
    rm -rf "$out.partial"
    mkdir -p "$out.partial"
    for f in "$tmp"/convlab-*; do
        "$f" --version >/dev/null || die "pack: $f does not run here"
        strip -o "$out.partial/$(basename "$f")" "$f"
        xz -T2 -6 "$out.partial/$(basename "$f")"
    done
    rm -rf "$tmp"
    cp "$here/gpu-check.sh" "$here/bench_torch.py" "$here/bench_vs_torch.py" "$here/cubecl_profile.py" \
        "$out.partial/"
    if ! (cd "$out.partial" && apt-get download libvulkan1 >/dev/null 2>&1); then
        echo "gpu-check: apt-get download libvulkan1 failed; packing the installed loader" >&2
        mkdir -p "$out.partial/lib"
        cp -L /usr/lib/x86_64-linux-gnu/libvulkan.so.1 "$out.partial/lib/"
    fi
    (cd "$repo" && echo "convlab $(git rev-parse --short=12 HEAD)$(git diff --quiet HEAD || echo +dirty), packed $(date -u +%Y-%m-%dT%H:%MZ)") \
        >"$out.partial/VERSION" 2>/dev/null || echo "convlab, packed $(date -u +%F)" >"$out.partial/VERSION"
    rm -rf "$out"
    mv "$out.partial" "$out"
    local size; size=$(du -sm "$out" | cut -f1)
    echo "packed $out ($size MiB): $(ls "$out" | tr '\n' ' ')"
    [ "$size" -lt 60 ] || die "pack: $out is $size MiB, over the 60 MiB the device machine's carry allows"
}

check() {
    local out="" quick=0 convlab=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --quick) quick=1; shift ;;
            --convlab) convlab="$2"; shift 2 ;;
            -*) die "check: unknown argument $1 (expected OUT, --quick, --convlab PATH)" ;;
            *) [ -z "$out" ] || die "check: one output folder, got $out and $1"; out="$1"; shift ;;
        esac
    done
    [ -n "$out" ] || die "check: name the output folder (check OUT)"
    mkdir -p "$out" || die "check: cannot create $out"
    out="$(cd "$out" && pwd)"
    local work; work="$(mktemp -d)"
    local details="$work/details"; mkdir -p "$details"
    local log="$out/check.log" summary="$work/summary.md"
    : >"$log"
    local python="${PYTHON:-python3}"

    # Sizes: the real check, or a minute on lavapipe.
    local models="lenet5 resnet20 vgg16-bn-cifar resnet18" batch=128 steps=8 warmup=4 rounds=2
    local cmp_args=() smoke_epochs=4 prof_steps=3 limit=240
    if [ "$quick" = 1 ]; then
        models="lenet5" batch=8 steps=2 warmup=1 rounds=1 smoke_epochs=3 prof_steps=1 limit=120
        cmp_args=(--arch lenet5 --batch 2 --steps 2)
    fi

    status=()
    # OUT/summary.md, rewritten after every step: a check cut short still says how far it got.
    summarize() {
        {
            echo "# GPU check"
            echo
            echo "$(date -u +%Y-%m-%d), $(cat "$here/VERSION" 2>/dev/null || echo 'not a pack')"
            command -v nvidia-smi >/dev/null && echo && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/GPU: /'
            echo
            echo "wgpu: $(grep -m1 '^run .* on wgpu (' "$log" | sed 's/^run .* on wgpu (/wgpu (/')"
            echo
            echo "| step | outcome | time |"
            echo "|---|---|---:|"
            printf '%s\n' "${status[@]}"
            echo
            [ -s "$work/table.md" ] && cat "$work/table.md"
            [ -s "$work/profile.md" ] && echo && cat "$work/profile.md"
        } >"$summary"
        cp "$summary" "$out/summary.md"
    }
    step() { # [STEP_STDOUT=FILE] step NAME LIMIT CMD...: run, log, record the outcome
        local name="$1" secs="$2"; shift 2
        echo "== $name: $*" >>"$log"
        local t0=$SECONDS rc
        if [ -n "${STEP_STDOUT:-}" ]; then
            timeout "$secs" "$@" >"$STEP_STDOUT" 2>>"$log"
            rc=$?
            cat "$STEP_STDOUT" >>"$log"
        else
            timeout "$secs" "$@" >>"$log" 2>&1
            rc=$?
        fi
        local took=$((SECONDS - t0))
        local what="ok"
        [ $rc -eq 124 ] && what="ran past its ${secs} s limit"
        [ $rc -ne 0 ] && [ $rc -ne 124 ] && what="failed (exit $rc)"
        echo "== $name: $what in ${took} s" >>"$log"
        status+=("| $name | $what | ${took} s |")
        summarize
        return $rc
    }

    {
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "host: $(uname -srm), $(nproc) CPUs"
        echo "pack: $(cat "$here/VERSION" 2>/dev/null || echo 'not a pack')"
    } >>"$log"

    # 1. The GPU, the Vulkan loader and the ICD.
    if command -v nvidia-smi >/dev/null; then
        step "nvidia-smi" 30 nvidia-smi
    else
        status+=("| nvidia-smi | not on this machine |  |")
    fi
    if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
        local deb; deb=$(ls "$here"/libvulkan1_*.deb 2>/dev/null | head -1)
        if [ -n "$deb" ]; then
            dpkg -x "$deb" "$work/root" && export LD_LIBRARY_PATH="$work/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            echo "vulkan loader: unpacked $(basename "$deb")" >>"$log"
        elif [ -f "$here/lib/libvulkan.so.1" ]; then
            export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            echo "vulkan loader: the packed lib/libvulkan.so.1" >>"$log"
        else
            echo "vulkan loader: none on this machine and none packed" >>"$log"
        fi
    else
        echo "vulkan loader: the system's" >>"$log"
    fi
    local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ] \
        && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
        export VK_DRIVER_FILES="$icd"
        echo "vulkan ICD: $icd" >>"$log"
    fi
    export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$work/xdg}"; mkdir -p "$XDG_RUNTIME_DIR"

    # The binaries: given, or the packed ones (SPIR-V first, WGSL as the fallback and the
    # second column of the throughput table).
    local wgsl=""
    if [ -z "$convlab" ]; then
        for v in spirv wgsl; do
            if [ -f "$here/convlab-$v.xz" ]; then
                xz -dc "$here/convlab-$v.xz" >"$work/convlab-$v" && chmod +x "$work/convlab-$v"
            fi
        done
        [ -x "$work/convlab-wgsl" ] && wgsl="$work/convlab-wgsl"
        if [ -x "$work/convlab-spirv" ]; then
            convlab="$work/convlab-spirv"
        else
            convlab="$wgsl"; wgsl=""
        fi
        [ -n "$convlab" ] || die "check: no convlab-spirv.xz or convlab-wgsl.xz beside $0 (pack first)"
    fi

    # 2. Libraries.
    if ldd "$convlab" >>"$log" 2>&1 && ! ldd "$convlab" | grep -q "not found"; then
        status+=("| libraries resolve (ldd) | ok |  |")
    else
        status+=("| libraries resolve (ldd) | failed: $(ldd "$convlab" 2>&1 | grep 'not found' | tr -s ' \t\n' ' ') |  |")
    fi

    # 3. The GPU agrees with the CPU. A SPIR-V build that fails here hands over to WGSL.
    if ! step "compare-backends flex,wgpu ($(basename "$convlab"))" "$limit" "$convlab" compare-backends \
        --backends flex,wgpu "${cmp_args[@]}" && [ -n "$wgsl" ]; then
        echo "$(basename "$convlab") failed: the WGSL build takes over" >>"$log"
        convlab="$wgsl"; wgsl=""
        step "compare-backends flex,wgpu (convlab-wgsl)" "$limit" "$convlab" compare-backends \
            --backends flex,wgpu "${cmp_args[@]}"
    fi

    # 4. Throughput beside PyTorch CUDA (the torch side needs CUDA; without it, convlab alone).
    local model_args=()
    for m in $models; do model_args+=(--model "$m"); done
    if "$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
        STEP_STDOUT="$work/table.md" step "throughput: convlab wgpu vs PyTorch CUDA" $((limit * 2)) \
            "$python" "$here/bench_vs_torch.py" --gpu --convlab "$convlab" ${wgsl:+--convlab-wgsl "$wgsl"} \
            "${model_args[@]}" \
            --batch "$batch" --steps "$steps" --warmup "$warmup" --rounds "$rounds" \
            --raw "$details/bench.jsonl" --timeout "$limit"
    else
        echo "PyTorch with CUDA not found ($python): convlab's side only" >>"$log"
        local arch_args=()
        for m in $models; do arch_args+=(--arch "$m"); done
        step "throughput: convlab wgpu (no PyTorch CUDA here)" $((limit * 2)) \
            "$convlab" bench --backend wgpu "${arch_args[@]}" \
            --batch "$batch" --steps "$steps" --warmup "$warmup"
    fi

    # 5. Training on the GPU: the loss falls.
    if step "train smoke --backend wgpu" "$limit" "$convlab" train smoke --backend wgpu --no-tui \
        --epochs "$smoke_epochs" --out "$work/runs"; then
        local run; run=$(dirname "$(find "$work/runs" -name metrics.csv | head -1)")
        cp "$run/run.json" "$run/metrics.csv" "$details/" 2>/dev/null
        if "$python" - "$run/metrics.csv" >>"$log" 2>&1 <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
losses = [float(r["train_loss"]) for r in rows]
print("smoke train_loss by epoch:", ", ".join(f"{l:.4f}" for l in losses))
sys.exit(0 if len(losses) >= 2 and losses[-1] < losses[0] else 1)
EOF
        then
            status+=("| smoke loss falls | ok: $(grep '^smoke train_loss' "$log" | cut -d: -f2) |  |")
        else
            status+=("| smoke loss falls | no: $(grep '^smoke train_loss' "$log" | cut -d: -f2) |  |")
        fi
    fi

    # 6. Where wgpu's time goes: cubecl's profiling log of resnet20 (lenet5 with --quick).
    local prof_model=resnet20
    [ "$quick" = 1 ] && prof_model=lenet5
    mkdir -p "$work/prof"
    printf '[environment]\npath = "global"\n[profiling.logger]\nlevel = "basic"\nfile = "%s"\nappend = false\n' \
        "$work/prof/cubecl.log" \
        >"$work/prof/cubecl.toml"
    # cubecl reads cubecl.toml from the working directory.
    pushd "$work/prof" >/dev/null || die "no $work/prof"
    if step "kernel profile ($prof_model)" "$limit" "$convlab" bench --backend wgpu \
        --arch "$prof_model" --batch "$batch" --steps "$prof_steps" --warmup "$warmup"; then
        "$python" "$here/cubecl_profile.py" "$work/prof/cubecl.log" >"$work/profile.md" 2>>"$log" || true
    fi
    popd >/dev/null || true
    [ -f "$work/prof/cubecl.log" ] && gzip -c "$work/prof/cubecl.log" >"$details/cubecl-profile.log.gz"

    summarize
    tar -C "$work" -czf "$out/details.tar.gz" details
    rm -rf "$work"
    echo "gpu-check: $out/summary.md"
    cat "$out/summary.md"
}

case "${1:-}" in
    pack) shift; pack "$@" ;;
    check) shift; check "$@" ;;
    *) die "usage: $0 pack [--out DIR] [--binary PATH] | $0 check OUT [--quick] [--convlab PATH]" ;;
esac
