#!/usr/bin/env python3
"""Does local response normalisation do more than divide by a constant in the `lrn` suite's
set-up? (README, Ablations, `lrn`.)

AlexNet's LRN (Krizhevsky et al. 2012, §3.3) divides each activation by
d = (k + α/n · Σ a²)^β over n neighbouring channels, with k = 2, n = 5, α = 1e-4, β = 0.75
(PyTorch's and Burn's α/n convention, as convlab's). Where α/n · Σ a² is small against k, d is
2^0.75 = 1.6818 everywhere and LRN is a constant scale. This prints d's distribution at both of
AlexNet-CIFAR's LRN layers on 256 training images, at initialisation and after `--steps` SGD
steps, in the suite's set-up: half-width AlexNet-CIFAR (32-96-192-128-128 convs 3×3, ReLU, LRN
after the first two, 2×2 max pools, dropout 0.5, FC 512-512-10), Fashion-MNIST's first 17,000
training images padded to 32×32, SGD lr 0.01 momentum 0.9 weight decay 5e-4, batch 128, one
thread.

    --input normalised   per-image-set mean 0 and std 1 (convlab's `data.normalize`, the suite's)
    --input raw255       centred raw pixel values in 0-255 units (the papers' input)
    --init kaiming-fan-in | kaiming (fan-out, convlab's `model.init = "kaiming"`) |
           paper (N(0, 0.01), biases 1 in conv2, conv4, conv5 and the hidden FCs, as Krizhevsky)

    ~/.cache/convlab/torch/bin/python scripts/lrn_probe.py --input normalised --init kaiming-fan-in --steps 150
"""
import argparse
import gzip
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

K, N, ALPHA, BETA = 2.0, 5, 1e-4, 0.75


def idx(path):
    with gzip.open(path) as f:
        magic, n = struct.unpack(">II", f.read(8))
        dims = [struct.unpack(">I", f.read(4))[0] for _ in range((magic & 0xFF) - 1)]
        return np.frombuffer(f.read(), np.uint8).reshape([n] + dims)


class Lrn(nn.Module):
    """LRN across channels that keeps its last denominator."""

    def __init__(self):
        super().__init__()
        self.den = None

    def forward(self, a):
        sq = a.pow(2).unsqueeze(1)
        window = F.avg_pool3d(F.pad(sq, (0, 0, 0, 0, N // 2, (N - 1) // 2)), (N, 1, 1), stride=1)
        den = (K + ALPHA * window.squeeze(1)).pow(BETA)  # the average is Σ/n
        self.den = den.detach()
        return a / den


def alexnet_cifar(lrn, init):
    def conv(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.ReLU()]

    norm = [Lrn()] if lrn else []
    net = nn.Sequential(
        *conv(1, 32), *norm, nn.MaxPool2d(2),
        *conv(32, 96), *([Lrn()] if lrn else []), nn.MaxPool2d(2),
        *conv(96, 192), *conv(192, 128), *conv(128, 128), nn.MaxPool2d(2), nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(128 * 16, 512), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10),
    )
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for i, m in enumerate(layers):
        if init == "paper":
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.constant_(m.bias, 1.0 if i in (1, 3, 4, 5, 6) else 0.0)
        else:
            mode = "fan_in" if init == "kaiming-fan-in" else "fan_out"
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--input", choices=["normalised", "raw255"], default="normalised")
    ap.add_argument("--init", choices=["kaiming-fan-in", "kaiming", "paper"], default="kaiming")
    ap.add_argument("--no-lrn", action="store_true", help="train without LRN (loss only)")
    ap.add_argument("--steps", type=int, default=150)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = idx(f"{a.data}/train-images-idx3-ubyte.gz")[:17000].astype(np.float32) / 255
    y = idx(f"{a.data}/train-labels-idx1-ubyte.gz")[:17000].astype(np.int64)
    if a.input == "raw255":
        x = x * 255 - (x * 255).mean()
    else:
        x = (x - x.mean()) / x.std()
    x = torch.tensor(np.pad(x, ((0, 0), (2, 2), (2, 2)))[:, None])
    y = torch.tensor(y)
    net = alexnet_cifar(not a.no_lrn, a.init)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    norms = [m for m in net if isinstance(m, Lrn)]

    def report(when):
        net.eval()
        with torch.no_grad():
            net(x[:256])
        for i, m in enumerate(norms):
            d = m.den.flatten()
            d = d[torch.randperm(len(d))[:100000]]
            q = torch.quantile(d, torch.tensor([0.0, 0.5, 0.99, 1.0]))
            print(f"{when} LRN{i + 1}: denominator min {q[0]:.4f} median {q[1]:.4f} "
                  f"p99 {q[2]:.4f} max {q[3]:.4f} (2^0.75 = {K ** BETA:.4f}); "
                  f"p99/median {q[2] / q[1]:.4f}", flush=True)
        net.train()

    report("init")
    g = torch.Generator().manual_seed(0)
    for step in range(1, a.steps + 1):
        i = torch.randint(0, len(x), (128,), generator=g)
        loss = F.cross_entropy(net(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 0:
            print(f"step {step} loss {loss.item():.3f}", flush=True)
    report(f"after {a.steps} steps")


if __name__ == "__main__":
    main()
