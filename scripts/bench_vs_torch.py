#!/usr/bin/env python3
"""Side-by-side training throughput: convlab (flex) against PyTorch on the same machine, the same
models, batch and thread count, interleaved (model by model, round by round) so both sides see
the same background load. Prints a Markdown table with the ratio per model, and JSON lines with
--json.

Run it through `just bench-vs-torch`, which builds convlab and creates the PyTorch venv.

    python scripts/bench_vs_torch.py --convlab target/debug/convlab [--rounds 2] [--steps 5]

convlab's side is `convlab bench` (the training path of `convlab train`: loader, batcher,
classifier step, recipe optimiser); PyTorch's is scripts/bench_torch.py (a fixed random batch,
zero_grad/forward/cross_entropy/backward/SGD step). Each side reports the best of its rounds.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ["lenet5", "alexnet-cifar", "vgg11-bn-cifar", "vgg16-bn-cifar", "resnet20"]


def run_json(cmd, env):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr.strip()}")
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit(f"{' '.join(cmd)} printed no result:\n{out.stdout}\n{out.stderr}")
    return json.loads(lines[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--convlab", required=True, help="path to the convlab binary")
    p.add_argument("--model", action="append", help="repeatable; default: all five")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()

    import torch
    env = dict(os.environ)
    # The same number of threads on both sides: rayon (flex), OpenMP (oneDNN, PyTorch).
    env.update(RAYON_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads),
               MKL_NUM_THREADS=str(a.threads), OMP_WAIT_POLICY="passive")
    common = ["--batch", str(a.batch), "--steps", str(a.steps), "--warmup", str(a.warmup)]
    best = {}
    for rnd in range(a.rounds):
        for m in a.model or MODELS:
            ours = run_json([a.convlab, "bench", "--arch", m, "--json"] + common, env)
            theirs = run_json([sys.executable, os.path.join(HERE, "bench_torch.py"), "--model", m,
                               "--threads", str(a.threads), "--json"] + common, env)
            for side, row in (("convlab", ours), ("torch", theirs)):
                key = (m, side)
                if key not in best or row["train_images_per_s"] > best[key]["train_images_per_s"]:
                    best[key] = row
            print(f"round {rnd + 1}/{a.rounds} {m}: convlab {ours['train_images_per_s']:.1f}, "
                  f"torch {theirs['train_images_per_s']:.1f} train img/s", file=sys.stderr)
    rows = []
    for m in a.model or MODELS:
        o, t = best[(m, "convlab")], best[(m, "torch")]
        rows.append({
            "model": m, "batch": a.batch, "threads": a.threads,
            "convlab_train": o["train_images_per_s"], "torch_train": t["train_images_per_s"],
            "train_ratio": o["train_images_per_s"] / t["train_images_per_s"],
            "convlab_infer": o["infer_images_per_s"], "torch_infer": t["infer_images_per_s"],
            "infer_ratio": o["infer_images_per_s"] / t["infer_images_per_s"],
            "convlab": o["device"], "torch": t["backend"],
        })
    if a.json:
        for r in rows:
            print(json.dumps(r))
        return
    print(f"training and inference images/s, batch {a.batch}, {a.threads} threads, best of {a.rounds} "
          f"interleaved rounds of {a.steps} steps; convlab on {rows[0]['convlab']}, PyTorch {torch.__version__}\n")
    print("| model | convlab train | PyTorch train | train ratio | convlab infer | PyTorch infer | infer ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['convlab_train']:.1f} | {r['torch_train']:.1f} | {r['train_ratio']:.2f} "
              f"| {r['convlab_infer']:.1f} | {r['torch_infer']:.1f} | {r['infer_ratio']:.2f} |")


if __name__ == "__main__":
    main()
