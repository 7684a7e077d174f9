#!/usr/bin/env python3
"""Writes what `convlab import` is tested against: a torchvision model with torchvision's own
random initialisation (no download), its state dict as torchvision saves it, an input and the
logits torchvision computes on it in eval mode.

    /usr/bin/python3 scripts/torchvision_fixture.py resnet18 OUT_DIR [--size 224] [--batch 2]
    /usr/bin/python3 scripts/torchvision_fixture.py resnet18 OUT_DIR --check FILE.safetensors
    /usr/bin/python3 scripts/torchvision_fixture.py - OUT_DIR --transform

`--transform` writes OUT_DIR/image.png (a 400x300 test image: gradients, stripes and noise) and
OUT_DIR/image.f32, torchvision's ImageNet evaluation transform of it (Resize(256),
CenterCrop(224), ToTensor, Normalize with ImageNet's mean and std): what `convlab predict` is
compared with.

`--check` loads a safetensors file that `convlab export` wrote into a fresh torchvision model
with `load_state_dict(strict=True)` and compares its logits on OUT_DIR's input with the reference
logits (relative to their largest magnitude; exits 1 beyond 1e-4). The file is parsed here (an
8-byte header length, a JSON header, raw little-endian data), so the `safetensors` package is
not needed.

OUT_DIR/<arch>.pth          torch.save(model.state_dict()) (zip format, what users hold)
OUT_DIR/<arch>.input.f32    little-endian float32, [batch, 3, size, size]
OUT_DIR/<arch>.logits.f32   little-endian float32, [batch, 1000]
OUT_DIR/<arch>.json         shapes, torch and torchvision versions, seed

Debian's python3-torch / python3-torchvision (1.13 / 0.14) are enough. Batch-norm running
statistics are randomised (torchvision initialises them to 0 and 1, which would hide a swapped
mean and variance), and the model runs in eval mode, as an imported model predicts.
"""

import argparse
import json
import os

import torch
import torchvision


def build(arch: str) -> torch.nn.Module:
    ctor = getattr(torchvision.models, arch)
    kwargs = {"weights": None}
    if arch == "googlenet":
        # torchvision's pretrained GoogLeNet has no aux heads in eval; keep them in the file so
        # the importer is tested on the full key set.
        kwargs.update(aux_logits=True, init_weights=True)
    return ctor(**kwargs)


def load_safetensors(path: str) -> dict:
    import numpy as np

    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    dtypes = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64}
    out = {}
    for key, meta in header.items():
        if key == "__metadata__":
            continue
        lo, hi = meta["data_offsets"]
        arr = np.frombuffer(body[lo:hi], dtype=dtypes[meta["dtype"]]).reshape(meta["shape"])
        out[key] = torch.from_numpy(arr.copy())
    return out


def check(a) -> None:
    import numpy as np

    base = os.path.join(a.out, a.arch)
    with open(base + ".json") as f:
        meta = json.load(f)
    model = build(a.arch)
    result = model.load_state_dict(load_safetensors(a.check), strict=True)
    model.eval()
    x = torch.from_numpy(np.fromfile(base + ".input.f32", dtype="<f4").reshape(meta["input"]))
    ref = np.fromfile(base + ".logits.f32", dtype="<f4").reshape(meta["logits"])
    with torch.no_grad():
        y = model(x).numpy()
    rel = float(np.abs(y - ref).max() / max(np.abs(ref).max(), 1e-12))
    print(f"{a.arch}: load_state_dict(strict=True): {result}; logits max relative difference {rel:.2e}")
    if rel > 1e-4:
        raise SystemExit(1)


def transform(out: str) -> None:
    import numpy as np
    from PIL import Image
    import torchvision.transforms as T

    rng = np.random.default_rng(0)
    h, w = 300, 400
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 / w, y * 255 / h, ((x + y) % 64) * 4], -1) + rng.normal(0, 20, (h, w, 3))
    os.makedirs(out, exist_ok=True)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(os.path.join(out, "image.png"))
    t = T.Compose(
        [
            T.Resize(256),
            T.CenterCrop(224),
            T.ToTensor(),
            T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    v = t(Image.open(os.path.join(out, "image.png")).convert("RGB"))
    v.numpy().astype("<f4").tofile(os.path.join(out, "image.f32"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("arch")
    p.add_argument("out")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check", help="a safetensors file to load strictly and compare")
    p.add_argument("--transform", action="store_true", help="write a test image and its transform")
    a = p.parse_args()
    if a.transform:
        transform(a.out)
        return
    if a.check:
        check(a)
        return
    torch.manual_seed(a.seed)
    model = build(a.arch)
    g = torch.Generator().manual_seed(a.seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    model.eval()
    x = torch.randn(a.batch, 3, a.size, a.size, generator=g)
    with torch.no_grad():
        y = model(x)
    os.makedirs(a.out, exist_ok=True)
    base = os.path.join(a.out, a.arch)
    torch.save(model.state_dict(), base + ".pth")
    x.numpy().astype("<f4").tofile(base + ".input.f32")
    y.numpy().astype("<f4").tofile(base + ".logits.f32")
    with open(base + ".json", "w") as f:
        json.dump(
            {
                "arch": a.arch,
                "input": list(x.shape),
                "logits": list(y.shape),
                "seed": a.seed,
                "torch": torch.__version__,
                "torchvision": torchvision.__version__,
                "params": sum(t.numel() for t in model.parameters()),
            },
            f,
            indent=1,
        )


if __name__ == "__main__":
    main()
