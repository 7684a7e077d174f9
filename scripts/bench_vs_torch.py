#!/usr/bin/env python3
"""Side-by-side throughput: convlab (flex) against PyTorch on the same machine, the same models,
batch and thread count, interleaved (model by model, round by round) so every side sees the same
background load. PyTorch runs in both CPU memory formats: `contiguous` (NCHW, its default eager
mode) and `channels_last` (NHWC, what its performance guide recommends); the ratio is against the
faster of the two, per model and per direction (training, inference).

Run it through `just bench-vs-torch`, which builds convlab and creates the PyTorch venv.

    python scripts/bench_vs_torch.py --convlab target/debug/convlab [--rounds 5] [--steps 10]
    python scripts/bench_vs_torch.py --convlab target/debug/convlab --real-path [--epochs 3]

`--real-path` times the real thing instead: epochs of `convlab train lenet-fashion` (its recipe
as shipped, diagnostics included) against scripts/lenet_fashion_torch.py, the same LeNet-5,
batch, optimiser and Fashion-MNIST arrays in a plain PyTorch loop, alternating run by run.

convlab's side is `convlab bench` (the training path of `convlab train`: loader, batcher,
classifier step, recipe optimiser); PyTorch's is scripts/bench_torch.py (a fixed random batch,
zero_grad/forward/cross_entropy/backward/SGD step). Each cell is the median over rounds of the
images/s of one round's timed steps; `±` is the spread over rounds, (max − min) / median, which
should be smaller than the differences a row reports before one reads anything into them.
The CPU model is printed with the table: compare ratios only within one run.

`--gpu` compares convlab's wgpu backend with PyTorch on CUDA instead (the GPU check,
scripts/gpu-check.sh, runs it): lenet5, resnet20, vgg16-bn-cifar and resnet18 (224x224) by
default; PyTorch in three modes — NCHW with TF32 off (strict fp32, like wgpu), NCHW with TF32 on,
channels_last with TF32 on — with cuDNN's autotuner on. `--python` names the interpreter that has
PyTorch (default: this one), `--raw FILE` keeps every measurement as JSON lines.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ["lenet5", "alexnet-cifar", "vgg11-bn-cifar", "vgg16-bn-cifar", "resnet20"]
SIDES = ["convlab", "contiguous", "channels_last"]
GPU_MODELS = ["lenet5", "resnet20", "vgg16-bn-cifar", "resnet18"]
# PyTorch on CUDA: (side, memory format, TF32).
GPU_SIDES = [("fp32", "contiguous", "off"), ("tf32", "contiguous", "on"), ("tf32_cl", "channels_last", "on")]


def run_jsons(cmd, env, timeout=None):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        sys.exit(f"{' '.join(cmd)} ran past {timeout} s")
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr.strip()}")
    lines = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit(f"{' '.join(cmd)} printed no result:\n{out.stdout}\n{out.stderr}")
    return lines


def run_json(cmd, env):
    return run_jsons(cmd, env)[-1]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
    except OSError:
        return platform.processor() or "unknown CPU"
    name = next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name")),
                "unknown CPU")
    flags = next((l for l in info.splitlines() if l.startswith("flags")), "")
    isa = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "no AVX2"
    return f"{name} ({isa}, {os.cpu_count()} logical CPUs)"


def cell(values):
    """Median and spread (max − min) / median of one side's rounds."""
    med = statistics.median(values)
    return med, (max(values) - min(values)) / med if med else 0.0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--convlab", required=True, help="path to the convlab binary")
    p.add_argument("--model", action="append", help="repeatable; default: all five")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true")
    p.add_argument("--real-path", action="store_true", help="lenet-fashion epochs instead")
    p.add_argument("--epochs", type=int, default=3, help="--real-path: epochs per run")
    p.add_argument("--gpu", action="store_true", help="convlab wgpu against PyTorch CUDA")
    p.add_argument("--convlab-wgsl", help="--gpu: a second convlab (the WGSL build) as its own column")
    p.add_argument("--python", default=sys.executable, help="--gpu: the Python that has PyTorch")
    p.add_argument("--raw", help="--gpu: write every measurement to this file (JSON lines)")
    p.add_argument("--timeout", type=int, default=600, help="--gpu: seconds per command at most")
    a = p.parse_args()
    if a.real_path:
        return real_path(a)
    if a.gpu:
        return gpu(a)

    import torch
    env = dict(os.environ)
    # The same number of threads on every side: rayon (flex), OpenMP (oneDNN, PyTorch).
    env.update(RAYON_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads),
               MKL_NUM_THREADS=str(a.threads), OMP_WAIT_POLICY="passive")
    common = ["--batch", str(a.batch), "--steps", str(a.steps), "--warmup", str(a.warmup)]
    models = a.model or MODELS
    got = {(m, s): [] for m in models for s in SIDES}
    device = {}
    for rnd in range(a.rounds):
        for m in models:
            for side in SIDES:
                if side == "convlab":
                    cmd = [a.convlab, "bench", "--arch", m, "--json"] + common
                else:
                    cmd = [sys.executable, os.path.join(HERE, "bench_torch.py"), "--model", m,
                           "--threads", str(a.threads), "--memory-format", side, "--json"] + common
                row = run_json(cmd, env)
                device[side] = row.get("device") if side == "convlab" else row["backend"]
                got[(m, side)].append(row)
            line = ", ".join(f"{s} {got[(m, s)][-1]['train_images_per_s']:.1f}" for s in SIDES)
            print(f"round {rnd + 1}/{a.rounds} {m}: train img/s {line}", file=sys.stderr)
    rows = []
    for m in models:
        r = {"model": m, "batch": a.batch, "threads": a.threads, "rounds": a.rounds, "steps": a.steps}
        for d in ("train", "infer"):
            for s in SIDES:
                r[f"{s}_{d}"], r[f"{s}_{d}_spread"] = cell([x[f"{d}_images_per_s"] for x in got[(m, s)]])
            best = max(("contiguous", "channels_last"), key=lambda s: r[f"{s}_{d}"])
            r[f"torch_best_{d}"] = best
            r[f"{d}_ratio"] = r[f"convlab_{d}"] / r[f"{best}_{d}"]
        rows.append(r)
    if a.json:
        for r in rows:
            print(json.dumps(r))
        return
    print(f"images/s, batch {a.batch}, {a.threads} threads, median of {a.rounds} interleaved rounds of "
          f"{a.steps} steps (± spread over rounds); {cpu_model()}; convlab on {device['convlab']}, "
          f"{device['contiguous']}\n")
    for d, title in (("train", "training"), ("infer", "inference")):
        print(f"{title}:\n")
        print("| model | convlab flex | PyTorch NCHW | PyTorch channels_last | flex / best PyTorch |")
        print("|---|---:|---:|---:|---:|")
        for r in rows:
            c = " | ".join(f"{r[f'{s}_{d}']:,.0f} ± {r[f'{s}_{d}_spread']:.0%}" for s in SIDES)
            print(f"| {r['model']} | {c} | {r[f'{d}_ratio']:.2f} |")
        print()


def gpu(a):
    """convlab --backend wgpu against PyTorch CUDA, interleaved round by round."""
    env = dict(os.environ)
    common = ["--batch", str(a.batch), "--steps", str(a.steps), "--warmup", str(a.warmup)]
    models = a.model or GPU_MODELS
    binaries = [("convlab", a.convlab)] + ([("wgsl", a.convlab_wgsl)] if a.convlab_wgsl else [])
    sides = [b for b, _ in binaries] + [s for s, _, _ in GPU_SIDES]
    got = {(m, s): [] for m in models for s in sides}
    raw = open(a.raw, "w") if a.raw else None
    device = {}
    for rnd in range(a.rounds):
        for side, exe in binaries:
            cmd = [exe, "bench", "--backend", "wgpu", "--json"] + common
            for m in models:
                cmd += ["--arch", m]
            rows = run_jsons(cmd, env, a.timeout)
            for r in rows:
                device[side] = r.get("device")
                got[(r["arch"], side)].append(r)
        for side, fmt, tf32 in GPU_SIDES:
            cmd = [a.python, os.path.join(HERE, "bench_torch.py"), "--device", "cuda", "--tf32", tf32,
                   "--memory-format", fmt, "--json"] + common
            for m in models:
                cmd += ["--model", m]
            rows = run_jsons(cmd, env, a.timeout)
            for r in rows:
                device["torch"] = r["backend"]
                got[(r["arch"], side)].append(r)
        if raw:
            for (m, s), rs in got.items():
                if rs:
                    raw.write(json.dumps({"round": rnd + 1, "side": s, **rs[-1]}) + "\n")
            raw.flush()
        line = "; ".join(f"{m} " + ", ".join(f"{s} {got[(m, s)][-1]['train_images_per_s']:.0f}" for s in sides)
                         for m in models)
        print(f"round {rnd + 1}/{a.rounds} train img/s: {line}", file=sys.stderr)
    gpu_name = ""
    try:
        gpu_name = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                                  capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    print(f"images/s, batch {a.batch}, median of {a.rounds} interleaved rounds of {a.steps} steps after "
          f"{a.warmup} warm-up (± spread over rounds); GPU {gpu_name or 'unknown'}; convlab on "
          f"{device.get('convlab')}" + (f"; its WGSL build on {device.get('wgsl')}" if a.convlab_wgsl else "")
          + f"; {device.get('torch')} (cuDNN benchmark mode)\n")
    names = {"convlab": "convlab wgpu", "wgsl": "convlab wgpu (WGSL build)", "fp32": "PyTorch fp32",
             "tf32": "PyTorch TF32", "tf32_cl": "PyTorch TF32 channels_last"}
    torch_sides = [s for s, _, _ in GPU_SIDES]
    for d, title in (("train", "training"), ("infer", "inference")):
        print(f"{title}:\n")
        print("| model | " + " | ".join(names[s] for s in sides) + " | wgpu / fp32 | wgpu / best PyTorch |")
        print("|---|" + "---:|" * (len(sides) + 2))
        for m in models:
            med = {s: cell([x[f"{d}_images_per_s"] for x in got[(m, s)]]) for s in sides}
            best = max(torch_sides, key=lambda s: med[s][0])
            c = " | ".join(f"{med[s][0]:,.0f} ± {med[s][1]:.0%}" for s in sides)
            print(f"| {m} | {c} | {med['convlab'][0] / med['fp32'][0]:.2f} | "
                  f"{med['convlab'][0] / med[best][0]:.2f} |")
        print()


def real_path(a):
    import csv
    import tempfile
    env = dict(os.environ)
    env.update(RAYON_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads),
               MKL_NUM_THREADS=str(a.threads), OMP_WAIT_POLICY="passive")
    times = {s: [] for s in SIDES}
    acc = {s: [] for s in SIDES}
    for rnd in range(a.rounds):
        with tempfile.TemporaryDirectory() as out:
            cmd = [a.convlab, "train", "lenet-fashion", "--no-tui", "--epochs", str(a.epochs), "--out", out]
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if r.returncode != 0:
                sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr.strip()}")
            (run,) = [os.path.join(dp, "metrics.csv") for dp, _, fs in os.walk(out) if "metrics.csv" in fs]
            with open(run) as f:
                rows = list(csv.DictReader(f))
            times["convlab"] += [float(x["epoch_s"]) for x in rows]
            acc["convlab"].append(float(rows[-1]["valid_acc"]) / 100)
        for side in ("contiguous", "channels_last"):
            cmd = [sys.executable, os.path.join(HERE, "lenet_fashion_torch.py"), "--epochs", str(a.epochs),
                   "--threads", str(a.threads), "--memory-format", side]
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if r.returncode != 0:
                sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr.strip()}")
            epochs = [json.loads(l) for l in r.stdout.splitlines() if '"epoch"' in l]
            times[side] += [e["seconds"] for e in epochs]
            acc[side].append(epochs[-1]["valid_acc"])
        print(f"round {rnd + 1}/{a.rounds}: " + ", ".join(
            f"{s} {statistics.median(times[s]):.2f} s/epoch" for s in SIDES), file=sys.stderr)
    med = {s: cell(times[s]) for s in SIDES}
    best = min(("contiguous", "channels_last"), key=lambda s: med[s][0])
    print(f"lenet-fashion epoch (54,000 training + 6,000 validation images, batch 128), {a.threads} "
          f"threads, median of {a.rounds} × {a.epochs} epochs (± spread); {cpu_model()}\n")
    print("| side | s / epoch | valid acc after the last epoch (median) |")
    print("|---|---:|---:|")
    names = {"convlab": "convlab train lenet-fashion (flex)", "contiguous": "PyTorch loop, NCHW",
             "channels_last": "PyTorch loop, channels_last"}
    for s in SIDES:
        print(f"| {names[s]} | {med[s][0]:.2f} ± {med[s][1]:.0%} | {statistics.median(acc[s]):.2%} |")
    print(f"\nflex / best PyTorch (speed): {med[best][0] / med['convlab'][0]:.2f}")


if __name__ == "__main__":
    main()
