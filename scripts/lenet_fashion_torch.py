#!/usr/bin/env python3
"""The real path in plain PyTorch: `convlab train lenet-fashion`'s loop, for the epoch-time
comparison of `just bench-real-path` (issue 22).

Same data, model and optimiser as the recipe: Fashion-MNIST's IDX files (convlab's data
directory, or Debian's `dataset-fashion-mnist`), 10 % of the training images held out for
validation, per-channel normalisation with the training part's mean and std; LeNet-5 as convlab
builds it (conv5×5 6 pad 2, ReLU, max pool 2, conv5×5 16, ReLU, max pool 2, FC 120-84-10 with
ReLU; PyTorch's default initialisation); SGD lr 0.05, Nesterov momentum 0.9, no weight decay,
batch 128, shuffled each epoch. An epoch is timed as convlab times it: the training pass plus
the validation pass. One JSON line per epoch, then the test accuracy.

    python scripts/lenet_fashion_torch.py [--data DIR] [--epochs 3] [--threads 2]
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np


def idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    if magic >> 8 != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file (magic {magic:#x})")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(data_dir, name):
    for d in [data_dir, os.path.expanduser("~/.cache/convlab/data/fashion-mnist"),
              "/usr/share/datasets/fashion-mnist"]:
        if not d:
            continue
        for ext in (".gz", ""):
            p = os.path.join(d, name + ext)
            if os.path.exists(p):
                return p
    raise SystemExit(f"{name}: not found (pass --data DIR, or install dataset-fashion-mnist)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="folder with the four IDX files")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-format", choices=["contiguous", "channels_last"], default="contiguous")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    import torch
    from torch import nn
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    fmt = torch.channels_last if a.memory_format == "channels_last" else torch.contiguous_format

    x = idx(find(a.data, "train-images-idx3-ubyte")).astype(np.float32) / 255.0
    y = idx(find(a.data, "train-labels-idx1-ubyte")).astype(np.int64)
    xt = idx(find(a.data, "t10k-images-idx3-ubyte")).astype(np.float32) / 255.0
    yt = idx(find(a.data, "t10k-labels-idx1-ubyte")).astype(np.int64)
    rng = np.random.default_rng(a.seed)
    order = rng.permutation(len(x))
    n_valid = len(x) // 10
    valid, train = order[:n_valid], order[n_valid:]
    mean, std = x[train].mean(), x[train].std()

    def tensor(images):
        return torch.from_numpy((images - mean) / std).unsqueeze(1).contiguous(memory_format=fmt)

    xtr, ytr = tensor(x[train]), torch.from_numpy(y[train])
    xva, yva = tensor(x[valid]), torch.from_numpy(y[valid])
    xte, yte = tensor(xt), torch.from_numpy(yt)

    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10)).to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)

    def evaluate(xs, ys):
        model.eval()
        correct = 0
        with torch.inference_mode():
            for i in range(0, len(xs), a.batch):
                correct += (model(xs[i:i + a.batch]).argmax(1) == ys[i:i + a.batch]).sum().item()
        return correct / len(xs)

    for epoch in range(1, a.epochs + 1):
        start = time.perf_counter()
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), a.batch):
            idx_b = perm[i:i + a.batch]
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(xtr[idx_b]), ytr[idx_b])
            loss.backward()
            opt.step()
        acc = evaluate(xva, yva)
        seconds = time.perf_counter() - start
        print(json.dumps({"epoch": epoch, "seconds": seconds, "valid_acc": acc,
                          "torch": torch.__version__, "memory_format": a.memory_format}), flush=True)
    print(json.dumps({"test_acc": evaluate(xte, yte)}))


if __name__ == "__main__":
    main()
