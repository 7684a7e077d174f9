#!/usr/bin/env python3
"""PyTorch counterpart of `convlab bench`: the same architectures, batch and optimiser, timed the
same way (one fixed random batch; SGD lr 0.05, Nesterov momentum 0.9, weight decay 5e-4), so the
two tables can be put side by side on one machine.

    python3 scripts/bench_torch.py                       # all models, table
    python3 scripts/bench_torch.py --model resnet20 --threads 2 --json
    python3 scripts/bench_torch.py --memory-format channels_last   # PyTorch's faster CPU layout
    python3 scripts/bench_torch.py --device cuda --tf32 on         # on a GPU

`--memory-format channels_last` converts the model and the batch with
`.to(memory_format=torch.channels_last)` (NHWC activations: oneDNN's preferred CPU layout, as
PyTorch's performance guide recommends); `contiguous` is PyTorch's default NCHW. On `--device
cuda` every timed step ends with `torch.cuda.synchronize()`, and `--tf32 on|off` sets
`torch.backends.cuda.matmul.allow_tf32` and `torch.backends.cudnn.allow_tf32`.

Models (convlab name: layout):
  lenet5          1x28x28, conv5x5(6, pad 2)-pool-conv5x5(16)-pool-FC 120-84-10, ReLU, max pool
  alexnet-cifar   3x3 convs 64-192-384-256-256, three 2x2 pools, dropout, FC 1024-1024-10
  vgg11-bn-cifar  VGG config A, conv+BN+ReLU, 2x2 pools, global average pool, Linear(512, 10)
  vgg16-bn-cifar  VGG config D, likewise
  resnet20        He et al. 2015 CIFAR net, option-B (1x1 conv + BN) shortcuts
  resnet18        torchvision's ResNet-18 at 3x224x224, 1000 classes (not in the default set)
"""
import argparse
import json
import resource
import statistics
import time


def build(name, nn):
    def vgg(cfg):
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.f = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
            self.s = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            return (self.f(x) + self.s(x)).relu()

    if name == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10)), (1, 28, 28)
    if name == "alexnet-cifar":
        return nn.Sequential(
            nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Dropout(0.5), nn.Linear(4096, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 1024),
            nn.ReLU(), nn.Linear(1024, 10)), (3, 32, 32)
    if name == "vgg11-bn-cifar":
        return vgg([64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]), (3, 32, 32)
    if name == "vgg16-bn-cifar":
        return vgg([64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                    512, 512, 512, "M"]), (3, 32, 32)
    if name == "resnet20":
        layers, c = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
        for width, stride in [(16, 1), (32, 2), (64, 2)]:
            for i in range(3):
                layers.append(Block(c, width, stride if i == 0 else 1))
                c = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
        return nn.Sequential(*layers), (3, 32, 32)
    if name == "resnet18":
        # torchvision's own ResNet-18 (convlab's `resnet18` has its layout and 11,689,512 parameters).
        import torchvision
        return torchvision.models.resnet18(num_classes=1000), (3, 224, 224)
    raise SystemExit(f"unknown model {name}")


MODELS = ["lenet5", "alexnet-cifar", "vgg11-bn-cifar", "vgg16-bn-cifar", "resnet20"]
EXTRA = ["resnet18"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", choices=MODELS + EXTRA,
                   help="repeatable; default: all but resnet18")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--memory-format", choices=["contiguous", "channels_last"], default="contiguous")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--tf32", choices=["on", "off"], default="off", help="cuda only")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    import torch
    from torch import nn
    if a.threads:
        torch.set_num_threads(a.threads)
    fmt = torch.channels_last if a.memory_format == "channels_last" else torch.contiguous_format
    device = torch.device(a.device)
    if a.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = a.tf32 == "on"
        torch.backends.cudnn.allow_tf32 = a.tf32 == "on"
        torch.backends.cudnn.benchmark = True

    def sync():
        if a.device == "cuda":
            torch.cuda.synchronize()
    rows = []
    for name in a.model or MODELS:
        torch.manual_seed(0)
        model, (c, h, w) = build(name, nn)
        model = model.to(device=device, memory_format=fmt)
        x = torch.randn(a.batch, c, h, w).to(device=device, memory_format=fmt)
        y = (torch.arange(a.batch) % 10).to(device)
        sync()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
        times = []
        model.train()
        for i in range(a.warmup + a.steps):
            t = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            sync()
            if i >= a.warmup:
                times.append(time.perf_counter() - t)
        model.eval()
        infer = []
        with torch.inference_mode():
            for i in range(a.warmup + a.steps):
                t = time.perf_counter()
                model(x)
                sync()
                if i >= a.warmup:
                    infer.append(time.perf_counter() - t)
        rows.append({
            "arch": name, "backend": f"torch {torch.__version__}", "batch": a.batch,
            "device": a.device, "memory_format": a.memory_format,
            "tf32": a.tf32 if a.device == "cuda" else None,
            "params": sum(p.numel() for p in model.parameters()),
            "train_images_per_s": a.batch * a.steps / sum(times),
            "train_step_ms_median": statistics.median(times) * 1e3,
            "infer_images_per_s": a.batch * a.steps / sum(infer),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        })
    if a.json:
        for r in rows:
            print(json.dumps(r))
        return
    print(f"{'arch':<16} {'backend':<14} {'batch':>6} {'params':>11} {'train img/s':>12} {'step ms':>11} {'infer img/s':>12} {'peak MiB':>9}")
    for r in rows:
        print(f"{r['arch']:<16} {r['backend']:<14} {r['batch']:>6} {r['params']:>11} {r['train_images_per_s']:>12.1f} "
              f"{r['train_step_ms_median']:>11.1f} {r['infer_images_per_s']:>12.1f} {r['peak_rss_mb']:>9.0f}")


if __name__ == "__main__":
    main()
