#!/usr/bin/python3
"""Side-by-side timing of dnnl_shim (loaded via ctypes) and PyTorch's own CPU
convolution (Debian torch 1.13, which links the same system libdnnl.so.2 and
libgomp), interleaved in ONE process so that background load affects both
equally.  Also cross-checks the shim's results against PyTorch.

  g++ -O2 -std=c++17 -shared -fPIC dnnl_shim.cpp -ldnnl \
      -o /tmp/libconvlab_dnnl_shim.so
  /usr/bin/python3 bench_torch.py [/tmp/libconvlab_dnnl_shim.so] [threads] [filter]

PyTorch side: fwd = F.conv2d; bwd_data / bwd_weights =
torch.ops.aten.convolution_backward with output_mask [T,F,F] / [F,T,F]
(the op autograd calls; for fp32 NCHW batch>1 it dispatches to
mkldnn_convolution_backward_{input,weights}, i.e. oneDNN via ideep).
"""
import ctypes
import statistics
import sys
import time

import torch
import torch.nn.functional as F

LIB = sys.argv[1] if len(sys.argv) > 1 else "/tmp/libconvlab_dnnl_shim.so"
THREADS = int(sys.argv[2]) if len(sys.argv) > 2 else 2
FILTER = sys.argv[3] if len(sys.argv) > 3 else ""

FIELDS = ["n", "ic", "ih", "iw", "oc", "oh", "ow", "kh", "kw", "stride_h",
          "stride_w", "pad_top", "pad_left", "pad_bottom", "pad_right",
          "dil_h", "dil_w", "groups"]


class ConvParams(ctypes.Structure):  # mirrors ConvlabConvParams
    _fields_ = [(f, ctypes.c_int64) for f in FIELDS]


lib = ctypes.CDLL(LIB)
fp = ctypes.c_void_p
for name, nargs in [("convlab_dnnl_conv2d_fwd", 5),
                    ("convlab_dnnl_conv2d_bwd_data", 4),
                    ("convlab_dnnl_conv2d_bwd_weights", 5)]:
    fn = getattr(lib, name)
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.POINTER(ConvParams)] + [fp] * (nargs - 1) + [
        ctypes.c_char_p, ctypes.c_size_t]
lib.convlab_dnnl_version.restype = ctypes.c_char_p

LAYERS = [  # name, n, ic, hw, oc, k, stride, pad
    ("r20 conv1 3->16 32x32", 128, 3, 32, 16, 3, 1, 1),
    ("r20 16->16 32x32", 128, 16, 32, 16, 3, 1, 1),
    ("r20 16->32 s2 32->16", 128, 16, 32, 32, 3, 2, 1),
    ("r20 32->32 16x16", 128, 32, 16, 32, 3, 1, 1),
    ("r20 32->64 s2 16->8", 128, 32, 16, 64, 3, 2, 1),
    ("r20 64->64 8x8", 128, 64, 8, 64, 3, 1, 1),
    ("r20 proj 1x1 s2 16->32", 128, 16, 32, 32, 1, 2, 0),
    ("r20 proj 1x1 s2 32->64", 128, 32, 16, 64, 1, 2, 0),
    ("vgg 3->64 32x32", 128, 3, 32, 64, 3, 1, 1),
    ("vgg 64->128 16x16", 128, 64, 16, 128, 3, 1, 1),
    ("vgg 128->256 8x8", 128, 128, 8, 256, 3, 1, 1),
    ("vgg 256->256 8x8", 128, 256, 8, 256, 3, 1, 1),
    ("vgg 256->512 4x4", 128, 256, 4, 512, 3, 1, 1),
    ("vgg 512->512 4x4", 128, 512, 4, 512, 3, 1, 1),
    ("vgg 512->512 2x2", 128, 512, 2, 512, 3, 1, 1),
]


def check(st, err):
    if st != 0:
        raise RuntimeError(err.value.decode())


def bench_pair(f_shim, f_torch, budget_ms=600.0, max_reps=25):
    """Warm both, then alternate shim/torch; return median ms of each."""
    f_shim(), f_torch()
    ts, tt = [], []
    while len(ts) < 3 or (sum(ts) + sum(tt) < budget_ms and len(ts) < max_reps):
        t0 = time.perf_counter(); f_shim(); ts.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter(); f_torch(); tt.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts), statistics.median(tt)


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def main():
    torch.set_num_threads(THREADS)
    lib.convlab_dnnl_set_threads(THREADS)
    with open("/proc/loadavg") as f:
        load0 = f.read().split()[:3]
    print(f"{lib.convlab_dnnl_version().decode()}; torch {torch.__version__}, "
          f"mkldnn {torch.backends.mkldnn.is_available()}, threads {THREADS}; "
          f"loadavg at start {' '.join(load0)}")
    print(f"{'layer (batch 128)':26s} {'GFLOP':>6s} | "
          f"{'fwd shim/torch ms':>19s} {'ratio':>5s} | "
          f"{'bwd_d shim/torch ms':>19s} {'ratio':>5s} | "
          f"{'bwd_w shim/torch ms':>19s} {'ratio':>5s} | GF/s shim f/d/w | max rel diff vs torch")
    tot = [[0.0, 0.0] for _ in range(3)]
    err = ctypes.create_string_buffer(512)
    torch.manual_seed(0)
    for name, n, ic, hw, oc, k, s, pad in LAYERS:
        if FILTER not in name:
            continue
        o = (hw + 2 * pad - k) // s + 1
        p = ConvParams(n, ic, hw, hw, oc, o, o, k, k, s, s, pad, pad, pad, pad, 1, 1, 1)
        pp = ctypes.byref(p)
        x = torch.randn(n, ic, hw, hw)
        w = torch.randn(oc, ic, k, k)
        dy = torch.randn(n, oc, o, o)
        y, dx, dw = torch.empty_like(dy), torch.empty_like(x), torch.empty_like(w)
        gf = 2.0 * n * oc * o * o * ic * k * k * 1e-9
        cb = lambda *a: torch.ops.aten.convolution_backward(
            dy, x, w, None, [s, s], [pad, pad], [1, 1], False, [0, 0], 1, list(a))
        with torch.no_grad():
            fs = lambda: check(lib.convlab_dnnl_conv2d_fwd(
                pp, x.data_ptr(), w.data_ptr(), None, y.data_ptr(), err, 512), err)
            ds = lambda: check(lib.convlab_dnnl_conv2d_bwd_data(
                pp, dy.data_ptr(), w.data_ptr(), dx.data_ptr(), err, 512), err)
            ws = lambda: check(lib.convlab_dnnl_conv2d_bwd_weights(
                pp, x.data_ptr(), dy.data_ptr(), dw.data_ptr(), None, err, 512), err)
            ft = lambda: F.conv2d(x, w, None, s, pad)
            dt = lambda: cb(True, False, False)
            wt = lambda: cb(False, True, False)
            res = [bench_pair(fs, ft), bench_pair(ds, dt), bench_pair(ws, wt)]
            fs(), ds(), ws()
            diffs = [rel(y, ft()), rel(dx, dt()[0]), rel(dw, wt()[1])]
        cells = []
        for i, (a, b) in enumerate(res):
            tot[i][0] += a
            tot[i][1] += b
            cells.append(f"{a:8.2f} / {b:8.2f} {b / a:5.2f}")
        print(f"{name:26s} {gf:6.3f} | " + " | ".join(cells) + " | "
              + "/".join(f"{gf / r[0] * 1e3:.0f}" for r in res) + " | "
              + " ".join(f"{d:.1e}" for d in diffs), flush=True)
    cells = [f"{a:8.1f} / {b:8.1f} {b / a:5.2f}" for a, b in tot]
    print(f"{'TOTAL (each layer once)':26s} {'':6s} | " + " | ".join(cells))
    with open("/proc/loadavg") as f:
        print("loadavg at end", " ".join(f.read().split()[:3]))
    print("ratio = torch ms / shim ms (>1: shim faster)")


if __name__ == "__main__":
    main()
