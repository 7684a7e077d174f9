#!/usr/bin/env python3
"""Golden reference fixtures for convlab's numerics, produced with PyTorch (CPU, float32).

Run from the repository root with Debian's PyTorch (torch 1.13, torchvision 0.14):

    /usr/bin/python3 scripts/golden/make_golden.py

It rewrites every file in tests/golden/ (see tests/golden/README.md for the layouts):

  optimizers.json  conv(1->2,k2)+BatchNorm2d(2)+ReLU+flatten+Linear(8,3), F.cross_entropy,
                   3 steps of torch.optim.SGD / Adam / AdamW (7 configurations) on one batch,
                   train mode; parameters, BN running stats, losses after every step; eval logits.
  batchnorm.json   nn.BatchNorm2d(3): train forward/backward, running stats after 1 and 3
                   forwards, eval forward, and relu(bn(x)) forward/backward.
  layers.json      nn.LocalResponseNorm(5, 5e-4, 0.75, 2.0); F.max_pool2d(3, 2, ceil_mode=True)
                   (3 cases); F.cross_entropy(label_smoothing=0.1 / 0.0).
  conv2d.json      F.conv2d forward + input/weight/bias grads, 4 shapes (groups, stride, padding),
                   on dyadic-quantised data so every float32 result is exact.
  schedules.json   per-iteration lr of torch.optim.lr_scheduler StepLR, MultiStepLR,
                   CosineAnnealingLR and SequentialLR(LinearLR, ...) (6 cases).
  init.json        mean/std/min/max of every parameter of torchvision alexnet, vgg11_bn, resnet18,
                   googlenet with their default initialisation (weights=None).

Tensors are {"shape": [...], "data": [flat row-major (C order) values]}. Float32 values are
written with the shortest decimal that round-trips to the same float32 (numpy's repr), checked to
be safely away from a rounding boundary, else with Python's repr of the exact value; float64
values (learning rates, init statistics) use Python's repr.
"""
import json, math, os, warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision import models

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "golden")
GENERATOR = (f"scripts/golden/make_golden.py (torch {torch.__version__}, "
             f"torchvision {torchvision.__version__}, CPU, float32, 1 thread)")

torch.set_num_threads(1)  # one thread: reductions happen in a fixed order
torch.use_deterministic_algorithms(True)
torch.set_default_dtype(torch.float32)


# ----------------------------------------------------------------------------- JSON output
class F32(list):
    """A list of float32 values (written with the shortest float32 round-trip decimal)."""


def f32_str(v):
    x = np.float32(v)
    assert np.isfinite(x), v
    s = str(x)
    d = float(s)
    lo, hi = (float(np.nextafter(x, np.float32(inf))) for inf in (-np.inf, np.inf))
    mid_lo, mid_hi = (lo + float(x)) / 2, (float(x) + hi) / 2
    margin = (mid_hi - mid_lo) * 1e-4  # tolerate a parser that is a few float64 ulps off
    if np.float32(d) == x and mid_lo + margin < d < mid_hi - margin:
        return s
    return repr(float(x))  # exact value of the float32, 17 digits


def T(t):
    """Tensor -> {"shape", "data"} (float32 values, or ints for integer tensors)."""
    t = t.detach().cpu().contiguous()
    data = t.flatten().tolist()
    return {"shape": list(t.shape), "data": data if not t.is_floating_point() else F32(data)}


def emit(o, ind=0):
    pad = " " * ind
    if isinstance(o, F32):
        return "[" + ", ".join(f32_str(v) for v in o) + "]"
    if isinstance(o, float):
        assert math.isfinite(o), o
        return repr(o)
    if not isinstance(o, (dict, list)):
        return json.dumps(o)
    items = list(o.items()) if isinstance(o, dict) else list(enumerate(o))
    key = (lambda k: json.dumps(k) + ": ") if isinstance(o, dict) else (lambda k: "")
    parts = [key(k) + emit(v, ind + 2) for k, v in items]
    br = "{}" if isinstance(o, dict) else "[]"
    inline = br[0] + ", ".join(parts) + br[1]
    is_tensor = isinstance(o, dict) and set(o) == {"shape", "data"}
    if is_tensor or ("\n" not in inline and len(inline) <= 160):
        return inline
    return br[0] + "\n" + ",\n".join(pad + "  " + p for p in parts) + "\n" + pad + br[1]


def write(name, note, body, caught):
    doc = {"generator": GENERATOR, "note": note}
    if caught:
        doc["pytorch_warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    doc.update(body)
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        f.write(emit(doc) + "\n")
    json.load(open(path))  # must parse back
    print(f"{name:16s} {os.path.getsize(path):6d} bytes")
    for w in doc.get("pytorch_warnings", []):
        print(f"    warning: {w[:150]}")


def fixture(name, note):
    """Decorator: run fn under a fresh seed, record warnings, write the file."""
    def deco(fn):
        def run():
            torch.manual_seed(0)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                write(name, note, fn(), caught)
        return run
    return deco


# ----------------------------------------------------------------------------- 1. optimizers
class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=2, stride=1, padding=0, bias=True)
        self.bn = nn.BatchNorm2d(2, eps=1e-5, momentum=0.1)
        self.fc = nn.Linear(8, 3, bias=True)

    def forward(self, x):  # [N,1,3,3] -> conv [N,2,2,2] -> flatten (C,H,W order) [N,8] -> [N,3]
        return self.fc(torch.flatten(F.relu(self.bn(self.conv(x))), 1))


OPTIMIZERS = {  # name -> torch.optim expression (n = the TinyNet)
    "sgd": "SGD(n.parameters(), lr=0.1)",
    "sgd_momentum": "SGD(n.parameters(), lr=0.1, momentum=0.9)",
    "sgd_nesterov_wd": "SGD(n.parameters(), lr=0.1, momentum=0.9, nesterov=True, "
                       "weight_decay=0.01)",
    "sgd_wd_no_norm_bias": "SGD([{'params': [n.conv.weight, n.fc.weight], 'weight_decay': 0.01}, "
                           "{'params': [n.conv.bias, n.bn.weight, n.bn.bias, n.fc.bias], "
                           "'weight_decay': 0.0}], lr=0.1, momentum=0.9)",
    "adam": "Adam(n.parameters(), lr=0.01)",  # betas=(0.9, 0.999), eps=1e-8
    "adam_wd": "Adam(n.parameters(), lr=0.01, weight_decay=0.01)",  # coupled L2: g += wd*p
    "adamw": "AdamW(n.parameters(), lr=0.01, weight_decay=0.1)",  # decoupled: p *= 1 - lr*wd
}
# conv.bias feeds a train-mode BatchNorm, so its gradient is mathematically zero (float32 noise,
# ~1e-9).  It only moves through weight decay; under adam/adamw (no wd on it) its trajectory is
# lr * noise/(|noise|+eps): not reproducible, excluded from the movement check and flagged.
BIAS_BEFORE_BN = "conv.bias"
HYPER = ("lr", "momentum", "dampening", "nesterov", "weight_decay", "betas", "eps", "amsgrad")


def snapshot(state):  # parameters and BN running stats, in state_dict order
    return {k: T(v) for k, v in state.items() if not k.endswith("num_batches_tracked")}


@fixture("optimizers.json",
         "Conv2d(1,2,k=2) -> BatchNorm2d(2) -> ReLU -> flatten (C,H,W order) -> Linear(8,3), "
         "F.cross_entropy, train mode. steps[i] = state after step i+1; losses[i] = loss of step "
         "i+1 before its update. fc.weight is [out, in] = [3, 8]. bn.weight = 1+0.2*randn, "
         "bn.bias = 0.1*randn. conv.bias has a mathematically zero gradient: see 'caveats'.")
def optimizers():
    net = TinyNet()
    with torch.no_grad():
        net.bn.weight.copy_(1 + 0.2 * torch.randn(2))
        net.bn.bias.copy_(0.1 * torch.randn(2))
    x = torch.randn(4, 1, 3, 3)
    y = torch.tensor([0, 1, 2, 1])
    init_state = {k: v.clone() for k, v in net.state_dict().items()}

    net.train()
    F.cross_entropy(net(x), y).backward()
    initial_grads = {k: T(p.grad) for k, p in net.named_parameters()}

    cases = {}
    for name, expr in OPTIMIZERS.items():
        net = TinyNet()
        net.load_state_dict(init_state)
        net.train()
        opt = eval(expr, dict(vars(torch.optim), n=net))
        losses, steps = [], []
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            steps.append(snapshot(net.state_dict()))
        for k, p in net.named_parameters():  # every parameter must visibly move
            rel = ((p.detach() - init_state[k]).norm() / init_state[k].norm()).item()
            if k == BIAS_BEFORE_BN and name in ("sgd", "sgd_momentum", "sgd_wd_no_norm_bias"):
                assert rel < 1e-5, (name, k, rel)  # zero gradient, no decay: stays put
            elif not (k == BIAS_BEFORE_BN and name in ("adam", "adamw")):
                assert rel > 1e-3, (name, k, rel)
        names = {id(p): k for k, p in net.named_parameters()}
        groups = [{"params": [names[id(p)] for p in g["params"]],
                   **{h: g[h] for h in HYPER if h in g}} for g in opt.param_groups]
        cases[name] = {"optimizer": "torch.optim." + expr, "param_groups": groups,
                       "losses": T(torch.tensor(losses)), "steps": steps}
        if name == "sgd_momentum":
            net.eval()
            with torch.no_grad():
                eval_logits = T(net(x))
    return {
        "x": T(x), "y": T(y), "initial": snapshot(init_state), "initial_grads": initial_grads,
        "caveats": {
            "conv.bias": "grad ~1e-9 float32 noise (train-mode BN follows). Stays put in sgd, "
                         "sgd_momentum, sgd_wd_no_norm_bias; moves only by weight decay in "
                         "sgd_nesterov_wd, adam_wd; in adam, adamw it moves by lr*noise/(|noise|"
                         "+eps): not reproducible, do not compare it there."},
        "cases": cases,
        "sgd_momentum_eval_logits": eval_logits,
    }


# ----------------------------------------------------------------------------- 2. batchnorm
@fixture("batchnorm.json",
         "nn.BatchNorm2d(3) (eps=1e-5, momentum=0.1), weight/bias from randn. Train-mode "
         "normalisation uses the biased batch variance; running_var is updated with the UNBIASED "
         "variance (n/(n-1), n = N*H*W = 100): running = 0.9*running + 0.1*batch_stat. "
         "Running stats start at 0 (mean) and 1 (var).")
def batchnorm():
    bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.randn(3))
        bn.bias.copy_(torch.randn(3))
    weight, bias = bn.weight.detach().clone(), bn.bias.detach().clone()
    x = (torch.randn(4, 3, 5, 5) * 2 + 1).requires_grad_()
    g = torch.randn(4, 3, 5, 5)
    bn.train()
    out = bn(x)
    out.backward(g)
    after1 = {"running_mean": T(bn.running_mean), "running_var": T(bn.running_var)}
    x2 = torch.randn(4, 3, 5, 5) * 1.5 - 0.5
    x3 = torch.randn(4, 3, 5, 5) * 3 + 2
    with torch.no_grad():
        bn(x2), bn(x3)
    after3 = {"running_mean": T(bn.running_mean), "running_var": T(bn.running_var)}
    bn.eval()
    x_eval = torch.randn(4, 3, 5, 5) * 2 + 1
    with torch.no_grad():
        out_eval = bn(x_eval)

    bn2 = nn.BatchNorm2d(3)  # fused relu(bn(x)), fresh running stats, same weight/bias/x/g
    with torch.no_grad():
        bn2.weight.copy_(weight), bn2.bias.copy_(bias)
    xr = x.detach().clone().requires_grad_()
    out_r = F.relu(bn2(xr))
    out_r.backward(g)
    return {
        "weight": T(weight), "bias": T(bias), "eps": 1e-5, "momentum": 0.1,
        "train": {"x": T(x), "grad_output": T(g), "output": T(out), "grad_x": T(x.grad),
                  "grad_weight": T(bn.weight.grad), "grad_bias": T(bn.bias.grad)},
        "running_after_1": after1,
        "x2": T(x2), "x3": T(x3),
        "running_after_3": after3,
        "eval": {"x": T(x_eval), "output": T(out_eval)},
        "relu_train": {"note": "relu(bn(train.x)) with the same weight/bias, grad_output = "
                               "train.grad_output", "output": T(out_r), "grad_x": T(xr.grad),
                       "grad_weight": T(bn2.weight.grad), "grad_bias": T(bn2.bias.grad)},
    }


# ----------------------------------------------------------------------------- 3. layers
@fixture("layers.json",
         "LocalResponseNorm: b_c = a_c / (k + alpha/size * sum_{c'=c-2..c+2} a_c'^2)^beta, window "
         "clipped at the channel edges; PyTorch divides alpha by size (5e-4/5 = 1e-4 = AlexNet "
         "paper's alpha). max_pool2d ceil_mode: out = ceil((H+2p-k)/s)+1, minus 1 if the last "
         "window would start in the right padding. cross_entropy label smoothing eps: "
         "loss_i = (1-eps)*(-log p_i[y_i]) + eps/C * sum_c(-log p_i[c]), mean over i.")
def layers():
    lrn = nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)
    x = (torch.randn(2, 8, 4, 4) * 10).requires_grad_()
    g = torch.randn(2, 8, 4, 4)
    out = lrn(x)
    out.backward(g)
    res = {"lrn": {"size": 5, "alpha": 5e-4, "beta": 0.75, "k": 2.0, "x": T(x), "output": T(out),
                   "grad_output": T(g), "grad_x": T(x.grad)}}

    pools = []
    for shape, pad in (((2, 3, 7, 7), 0), ((1, 2, 6, 6), 0), ((1, 2, 8, 8), 1)):
        xp = torch.randn(*shape).requires_grad_()
        o = F.max_pool2d(xp, kernel_size=3, stride=2, padding=pad, ceil_mode=True)
        gp = torch.randn_like(o)
        o.backward(gp)
        pools.append({"kernel": 3, "stride": 2, "padding": pad, "ceil_mode": True, "x": T(xp),
                      "output": T(o), "grad_output": T(gp), "grad_x": T(xp.grad)})
    res["max_pool_ceil"] = pools

    logits = torch.randn(5, 4)
    y = torch.tensor([0, 3, 1, 2, 1])
    ce = []
    for ls in (0.1, 0.0):
        lg = logits.clone().requires_grad_()
        loss = F.cross_entropy(lg, y, label_smoothing=ls)
        loss.backward()
        ce.append({"label_smoothing": ls, "loss": T(loss), "grad_logits": T(lg.grad)})
    res["cross_entropy"] = {"logits": T(logits), "targets": T(y), "reduction": "mean", "cases": ce}
    return res


# ----------------------------------------------------------------------------- 3b. conv2d
CONV_CASES = [  # (in, out, k, stride, pad, groups, bias, batch, H, W)
    (3, 4, 3, 1, 1, 1, True, 2, 7, 7),
    (4, 6, 3, 2, 1, 2, True, 1, 9, 8),
    (3, 5, 5, 2, 2, 1, True, 2, 11, 11),
    (2, 3, 1, 1, 0, 1, False, 1, 5, 5),
]


def dyadic(t, step):
    return torch.round(t / step) * step


@fixture("conv2d.json",
         "F.conv2d(x, weight, bias, stride, padding, groups=groups) and its grads for grad_output. "
         "weight is [out, in/groups, kh, kw], x/output NCHW. Data are quantised to dyadic grids "
         "(x: 1/8, weight: 1/32 of nn.Conv2d's default init, bias: 1/32, grad_output: 1/4), so "
         "every float32 sum here is exact (checked against float64): results do not depend on "
         "summation order and a correct kernel can match them bit for bit.")
def conv2d():
    cases = []
    for cin, cout, k, s, p, groups, has_bias, n, h, w in CONV_CASES:
        conv = nn.Conv2d(cin, cout, k, stride=s, padding=p, groups=groups, bias=has_bias)
        weight = dyadic(conv.weight.detach(), 1 / 32).requires_grad_()
        bias = dyadic(conv.bias.detach(), 1 / 32).requires_grad_() if has_bias else None
        x = dyadic(torch.randn(n, cin, h, w), 1 / 8).requires_grad_()
        out = F.conv2d(x, weight, bias, stride=s, padding=p, groups=groups)
        g = dyadic(torch.randn_like(out), 1 / 4)
        out.backward(g)
        x64, w64 = (t.detach().double().requires_grad_() for t in (x, weight))  # exactness check
        b64 = bias.detach().double() if has_bias else None
        o64 = F.conv2d(x64, w64, b64, stride=s, padding=p, groups=groups)
        o64.backward(g.double())
        for a, b in ((o64, out), (x64.grad, x.grad), (w64.grad, weight.grad)):
            assert torch.equal(a.detach().float(), b.detach())
        cases.append({"in_channels": cin, "out_channels": cout, "kernel": k, "stride": s,
                      "padding": p, "groups": groups, "x": T(x), "weight": T(weight),
                      "bias": T(bias) if has_bias else None, "output": T(out),
                      "grad_output": T(g), "grad_x": T(x.grad), "grad_weight": T(weight.grad),
                      "grad_bias": T(bias.grad) if has_bias else None})
    return {"cases": cases}


# ----------------------------------------------------------------------------- 4. schedules
IPE = 3  # iterations per epoch
SCHEDULES = {  # name -> (base_lr, epochs, scheduler expression; o = the optimizer)
    "step": (0.1, 7, "StepLR(o, step_size=2*3, gamma=0.1)"),
    "multi_step": (0.1, 7, "MultiStepLR(o, milestones=[2*3, 5*3], gamma=0.1)"),
    "cosine": (0.1, 5, "CosineAnnealingLR(o, T_max=15, eta_min=0.001)"),
    "warmup_cosine": (0.1, 5, "SequentialLR(o, [LinearLR(o, start_factor=0.1, end_factor=1.0, "
                              "total_iters=3), CosineAnnealingLR(o, T_max=15-3, eta_min=0.0)], "
                              "milestones=[3])"),
    "warmup_multi_step": (0.1, 7, "SequentialLR(o, [LinearLR(o, start_factor=0.25, "
                                  "total_iters=3), MultiStepLR(o, milestones=[2*3, 4*3], "
                                  "gamma=0.5)], milestones=[3])"),
    "constant_warmup": (0.05, 3, "SequentialLR(o, [LinearLR(o, start_factor=0.1, total_iters=3), "
                                 "ConstantLR(o, factor=1.0, total_iters=0)], milestones=[3])"),
}


@fixture("schedules.json",
         "lr[it] = optimizer.param_groups[0]['lr'] read before optimizer.step() at iteration it, "
         "then scheduler.step() once per iteration (per-iteration stepping), it = 0..total-1, "
         "total = epochs*iters_per_epoch. Values are Python float64 (PyTorch's recursive/chainable "
         "formulas, not the closed forms). Under SequentialLR the later scheduler restarts its "
         "count at the milestone (its milestones/T_max are relative to the end of warm-up).")
def schedules():
    out = {"iters_per_epoch": IPE, "cases": {}}
    for name, (base, epochs, expr) in SCHEDULES.items():
        p = nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=base)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sched = eval(expr, dict(vars(torch.optim.lr_scheduler), o=opt))
            lrs = []
            for _ in range(epochs * IPE):
                lrs.append(opt.param_groups[0]["lr"])
                p.grad = torch.zeros(1)
                opt.step()
                sched.step()
        out["cases"][name] = {"base_lr": base, "epochs": epochs, "total_iters": epochs * IPE,
                              "scheduler": "torch.optim.lr_scheduler." + expr, "lr": lrs,
                              "warnings": sorted({str(w.message) for w in caught})}
    c = out["cases"]  # sanity checks of the behaviour described in the README
    wms = c["warmup_multi_step"]["lr"]  # milestones [6, 12] count from it = 3: drops at 9 and 15
    assert [round(wms[i], 9) for i in (8, 9, 14, 15)] == [0.1, 0.05, 0.05, 0.025]
    assert math.isclose(c["warmup_cosine"]["lr"][3], 0.1) and c["warmup_cosine"]["lr"][2] < 0.1
    return out


# ----------------------------------------------------------------------------- 5. init
TORCH_DEFAULT = ("PyTorch defaults (torch/nn/modules/conv.py:146-155, linear.py:103-111): weight "
                 "kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias "
                 "U(-1/sqrt(fan_in), 1/sqrt(fan_in)); BatchNorm (batchnorm.py:68-80) weight 1, "
                 "bias 0")
INIT_RULES = {
    "alexnet": "alexnet.py has no init loop: " + TORCH_DEFAULT,
    "vgg11_bn": "vgg.py:52-63: Conv2d kaiming_normal_(mode='fan_out', nonlinearity='relu'), "
                "bias 0; BatchNorm2d weight 1, bias 0; Linear normal_(0, 0.01), bias 0",
    "resnet18": "resnet.py:208-213: Conv2d (all bias=False) kaiming_normal_(mode='fan_out', "
                "nonlinearity='relu'); BatchNorm2d/GroupNorm weight 1, bias 0; fc untouched: "
                + TORCH_DEFAULT + " (zero_init_residual=False, resnet.py:218-223 not applied)",
    "googlenet": "googlenet.py:94-100: Conv2d (bias=False, googlenet.py:269) and Linear weight "
                 "trunc_normal_(mean=0, std=0.01, a=-2, b=2) (a, b are absolute: +-200 std, i.e. "
                 "effectively untruncated); BatchNorm2d(eps=0.001) weight 1, bias 0; fc.bias "
                 "untouched: " + TORCH_DEFAULT,
}
INIT_MODELS = {
    "alexnet": lambda: models.alexnet(weights=None),
    "vgg11_bn": lambda: models.vgg11_bn(weights=None),
    "resnet18": lambda: models.resnet18(weights=None),
    "googlenet": lambda: models.googlenet(weights=None, aux_logits=False, init_weights=True),
}


@fixture("init.json",
         "Per-parameter statistics of torchvision models with default init (weights=None), "
         "torch.manual_seed(0) before building each model. Statistics over all elements in "
         "float64: mean, std (unbiased, torch.std default), min, max; rounded to 7 significant "
         "digits. Parameters only (no BN buffers); 1000 classes.")
def init():
    res = {}
    for name, build in INIT_MODELS.items():
        torch.manual_seed(0)
        m = build()
        rows = []
        for pname, prm in m.named_parameters():
            d = prm.detach().double()
            r7 = lambda v: float(f"{v.item():.7g}")
            rows.append({"name": pname, "shape": list(prm.shape), "mean": r7(d.mean()),
                         "std": r7(d.std()), "min": r7(d.min()), "max": r7(d.max())})
        res[name] = {"init_rule": INIT_RULES[name],
                     "num_params": sum(p.numel() for p in m.parameters()), "params": rows}
    return res


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for fn in (optimizers, batchnorm, layers, conv2d, schedules, init):
        fn()
