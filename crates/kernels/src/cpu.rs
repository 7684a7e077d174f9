//! Kernels on contiguous NCHW `f32` slices: batch norm (optionally fused with the ReLU that
//! follows it) forward and backward, and max pooling with its argmax and backward. Parallel
//! over channels or planes with rayon. Statistics accumulate in `f64`.

use multiversion::multiversion;
use rayon::prelude::*;

/// `[N, C, H, W]` as the kernels see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nchw {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Nchw {
    pub fn plane(&self) -> usize {
        self.h * self.w
    }
    pub fn len(&self) -> usize {
        self.n * self.c * self.plane()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `HW`-long planes of channel `c`, one per sample.
fn channel_planes<'a>(x: &'a [f32], s: Nchw, c: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
    let hw = s.plane();
    (0..s.n).map(move |n| &x[(n * s.c + c) * hw..(n * s.c + c + 1) * hw])
}

/// Per-channel batch mean and biased variance (two passes: the second over deviations).
pub fn channel_stats(x: &[f32], s: Nchw) -> (Vec<f32>, Vec<f32>) {
    let m = (s.n * s.plane()).max(1) as f64;
    let stats: Vec<(f32, f32)> = (0..s.c)
        .into_par_iter()
        .map(|c| {
            let sum: f64 = channel_planes(x, s, c)
                .map(|p| p.iter().map(|&v| v as f64).sum::<f64>())
                .sum();
            let mean = sum / m;
            let sq: f64 = channel_planes(x, s, c)
                .map(|p| {
                    p.iter()
                        .map(|&v| {
                            let d = v as f64 - mean;
                            d * d
                        })
                        .sum::<f64>()
                })
                .sum();
            (mean as f32, (sq / m) as f32)
        })
        .collect();
    stats.into_iter().unzip()
}

/// `y = x·scale[c] + shift[c]`, then ReLU when asked.
pub fn scale_shift(x: &[f32], s: Nchw, scale: &[f32], shift: &[f32], relu: bool) -> Vec<f32> {
    let hw = s.plane().max(1);
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(hw)
        .zip(x.par_chunks(hw))
        .enumerate()
        .for_each(|(i, (yo, xi))| {
            let c = i % s.c;
            let (a, b) = (scale[c], shift[c]);
            if relu {
                for (o, &v) in yo.iter_mut().zip(xi) {
                    *o = (v * a + b).max(0.0);
                }
            } else {
                for (o, &v) in yo.iter_mut().zip(xi) {
                    *o = v * a + b;
                }
            }
        });
    y
}

/// Training-mode batch norm: output, batch mean, biased batch variance and 1/√(var + ε).
pub struct BnForward {
    pub y: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
    pub invstd: Vec<f32>,
}

pub fn bn_train_forward(
    x: &[f32],
    s: Nchw,
    gamma: &[f32],
    beta: &[f32],
    eps: f64,
    relu: bool,
) -> BnForward {
    let (mean, var) = channel_stats(x, s);
    normalise(mean, var, gamma, beta, eps, |a, b| {
        scale_shift(x, s, a, b, relu)
    })
}

/// Batch norm's output from the batch statistics: `affine(scale, shift)` with
/// scale = γ/√(var + ε) and shift = β − μ·scale, in the caller's layout.
fn normalise(
    mean: Vec<f32>,
    var: Vec<f32>,
    gamma: &[f32],
    beta: &[f32],
    eps: f64,
    affine: impl FnOnce(&[f32], &[f32]) -> Vec<f32>,
) -> BnForward {
    let invstd: Vec<f32> = var
        .iter()
        .map(|&v| (1.0 / (v as f64 + eps).sqrt()) as f32)
        .collect();
    let scale: Vec<f32> = (0..mean.len()).map(|c| gamma[c] * invstd[c]).collect();
    let shift: Vec<f32> = (0..mean.len())
        .map(|c| beta[c] - mean[c] * scale[c])
        .collect();
    BnForward {
        y: affine(&scale, &shift),
        mean,
        var,
        invstd,
    }
}

/// Gradients of training-mode batch norm (and the fused ReLU, recomputed from `x`):
/// with x̂ = (x − μ)·invstd and g = dy·[y > 0],
/// dβ = Σ g, dγ = Σ g·x̂, dx = γ·invstd·(g − dβ/M − x̂·dγ/M).
pub struct BnBackward {
    pub dx: Vec<f32>,
    pub dgamma: Vec<f32>,
    pub dbeta: Vec<f32>,
}

#[allow(clippy::too_many_arguments)]
pub fn bn_train_backward(
    x: &[f32],
    dy: &[f32],
    s: Nchw,
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    invstd: &[f32],
    relu: bool,
) -> BnBackward {
    let hw = s.plane().max(1);
    let m = (s.n * s.plane()).max(1) as f64;
    let sums: Vec<(f64, f64)> = (0..s.c)
        .into_par_iter()
        .map(|c| {
            let (mu, is, g, b) = (mean[c], invstd[c], gamma[c], beta[c]);
            let (mut db, mut dg) = (0f64, 0f64);
            for n in 0..s.n {
                let at = (n * s.c + c) * hw;
                for (&xv, &d) in x[at..at + hw].iter().zip(&dy[at..at + hw]) {
                    let xh = (xv - mu) * is;
                    let d = if relu && xh * g + b <= 0.0 { 0.0 } else { d };
                    db += d as f64;
                    dg += (d * xh) as f64;
                }
            }
            (db, dg)
        })
        .collect();
    let (dbeta, dgamma): (Vec<f32>, Vec<f32>) =
        sums.iter().map(|&(b, g)| (b as f32, g as f32)).unzip();
    let mut dx = vec![0f32; x.len()];
    dx.par_chunks_mut(hw)
        .zip(x.par_chunks(hw).zip(dy.par_chunks(hw)))
        .enumerate()
        .for_each(|(i, (o, (xp, dp)))| {
            let c = i % s.c;
            let (mu, is, g, b) = (mean[c], invstd[c], gamma[c], beta[c]);
            let k = g * is;
            let (db_m, dg_m) = ((sums[c].0 / m) as f32, (sums[c].1 / m) as f32);
            for ((o, &xv), &d) in o.iter_mut().zip(xp).zip(dp) {
                let xh = (xv - mu) * is;
                let d = if relu && xh * g + b <= 0.0 { 0.0 } else { d };
                *o = k * (d - db_m - xh * dg_m);
            }
        });
    BnBackward { dx, dgamma, dbeta }
}

/// Max-pooling geometry with PyTorch's output size: ⌊(H + 2p − k)/s⌋ + 1, or ⌈·⌉ + 1 in ceil
/// mode minus the last window when it would start in the right padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub ceil_mode: bool,
}

impl Pool {
    pub fn out_dim(&self, size: usize, axis: usize) -> usize {
        let (k, s, p) = (self.kernel[axis], self.stride[axis], self.padding[axis]);
        let span = (size + 2 * p).saturating_sub(k);
        let mut out = if self.ceil_mode {
            span.div_ceil(s) + 1
        } else {
            span / s + 1
        };
        if self.ceil_mode && (out - 1) * s >= size + p {
            out -= 1;
        }
        out
    }
}

/// Output `[N, C, OH, OW]` and, per output, the flat index within its input plane of the
/// maximum (the first one in scan order on ties; a NaN wins, as in PyTorch's kernel).
pub fn max_pool_forward(x: &[f32], s: Nchw, p: Pool) -> (Vec<f32>, Vec<u32>, usize, usize) {
    let (oh, ow) = (p.out_dim(s.h, 0), p.out_dim(s.w, 1));
    let (hw, ohw) = (s.plane(), oh * ow);
    let mut y = vec![0f32; s.n * s.c * ohw];
    let mut idx = vec![0u32; y.len()];
    y.par_chunks_mut(ohw.max(1))
        .zip(idx.par_chunks_mut(ohw.max(1)))
        .zip(x.par_chunks(hw.max(1)))
        .for_each(|((yo, io), xp)| {
            for i in 0..oh {
                let h0 = (i * p.stride[0]) as isize - p.padding[0] as isize;
                let (hs, he) = (
                    h0.max(0) as usize,
                    ((h0 + p.kernel[0] as isize) as usize).min(s.h),
                );
                for j in 0..ow {
                    let w0 = (j * p.stride[1]) as isize - p.padding[1] as isize;
                    let (ws, we) = (
                        w0.max(0) as usize,
                        ((w0 + p.kernel[1] as isize) as usize).min(s.w),
                    );
                    let (mut best, mut at) = (f32::NEG_INFINITY, hs * s.w + ws);
                    for r in hs..he {
                        for c in ws..we {
                            let v = xp[r * s.w + c];
                            if v > best || v.is_nan() {
                                best = v;
                                at = r * s.w + c;
                            }
                        }
                    }
                    yo[i * ow + j] = best;
                    io[i * ow + j] = at as u32;
                }
            }
        });
    (y, idx, oh, ow)
}

/// Scatters `dy` to the argmax positions of each plane (planes are independent: no races).
pub fn max_pool_backward(dy: &[f32], idx: &[u32], s: Nchw, out_plane: usize) -> Vec<f32> {
    let hw = s.plane();
    let mut dx = vec![0f32; s.len()];
    dx.par_chunks_mut(hw.max(1))
        .zip(
            dy.par_chunks(out_plane.max(1))
                .zip(idx.par_chunks(out_plane.max(1))),
        )
        .for_each(|(d, (g, i))| {
            for (&gv, &k) in g.iter().zip(i) {
                d[k as usize] += gv;
            }
        });
    dx
}

// ---- channels-last (NHWC) versions: `x` is `[N, H, W, C]`, one row of C values per pixel ----
//
// Rows are processed a block at a time (`block_rows` rows, about 1,024 values) as flat slices,
// against the per-channel parameters repeated once per row of the block: every loop is then a
// plain element-wise one the compiler vectorises, whatever C is. Sums run in f32 per block
// position and in f64 across positions and tasks.

/// Rows per block: about 1,024 values.
fn block_rows(c: usize) -> usize {
    (1024 / c.max(1)).max(1)
}

/// Values per rayon task: 16 blocks.
fn task_len(c: usize) -> usize {
    16 * block_rows(c) * c.max(1)
}

/// `p` (one value per channel) repeated for a block's rows.
fn tiled(p: &[f32], c: usize) -> Vec<f32> {
    p[..c].repeat(block_rows(c))
}

/// Per-channel f64 totals of a block-sized f32 accumulator.
fn fold_channels(acc: &[f32], c: usize, total: &mut [f64]) {
    for row in acc.chunks_exact(c) {
        total.iter_mut().zip(row).for_each(|(t, &v)| *t += v as f64);
    }
}

fn add_totals(mut a: Vec<f64>, b: Vec<f64>) -> Vec<f64> {
    a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
    a
}

/// Per-channel totals of `f(block, acc)` over `x`'s blocks, where `f` adds a block
/// element-wise into an accumulator of one block's length.
fn block_sums(x: &[f32], c: usize, f: impl Fn(&[f32], &mut [f32]) + Sync) -> Vec<f64> {
    let bl = block_rows(c) * c;
    x.par_chunks(task_len(c))
        .map(|task| {
            let mut acc = vec![0f32; bl];
            for block in task.chunks(bl) {
                f(block, &mut acc);
            }
            let mut total = vec![0f64; c];
            fold_channels(&acc, c, &mut total);
            total
        })
        .reduce(|| vec![0f64; c], add_totals)
}

// Leaf loops over flat slices, compiled for AVX-512 and AVX2 + FMA besides the baseline and
// chosen at run time (the crate is built for plain x86-64). No fused multiply-adds are formed
// (Rust does not contract `a * b + c`), so every machine computes the same numbers.

/// `acc += x`.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn acc_add(acc: &mut [f32], x: &[f32]) {
    let acc = &mut acc[..x.len()];
    for j in 0..x.len() {
        acc[j] += x[j];
    }
}

/// `acc += (x − m)²`.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn acc_sq_dev(acc: &mut [f32], x: &[f32], m: &[f32]) {
    let (acc, m) = (&mut acc[..x.len()], &m[..x.len()]);
    for j in 0..x.len() {
        let d = x[j] - m[j];
        acc[j] += d * d;
    }
}

/// `y = x·a + b`, rectified when `relu`.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn affine(y: &mut [f32], x: &[f32], a: &[f32], b: &[f32], relu: bool) {
    let n = y.len();
    let (x, a, b) = (&x[..n], &a[..n], &b[..n]);
    if relu {
        for j in 0..n {
            y[j] = (x[j] * a[j] + b[j]).max(0.0);
        }
    } else {
        for j in 0..n {
            y[j] = x[j] * a[j] + b[j];
        }
    }
}

/// Batch norm's saved quantities tiled to a block: mean, 1/√(var + ε), γ, β.
struct Tiled<'a> {
    mean: &'a [f32],
    invstd: &'a [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
}

impl<'a> Tiled<'a> {
    /// The first `n` positions (a block's length; bounds checked once, outside the loops).
    fn prefix(&self, n: usize) -> Tiled<'a> {
        Tiled {
            mean: &self.mean[..n],
            invstd: &self.invstd[..n],
            gamma: &self.gamma[..n],
            beta: &self.beta[..n],
        }
    }

    /// x̂ = (x − μ)·invstd at position `j`, and the gradient through the fused ReLU,
    /// g = dy·[γ·x̂ + β > 0] (`dy` itself without the ReLU).
    #[inline(always)]
    fn gate(&self, j: usize, x: f32, dy: f32, relu: bool) -> (f32, f32) {
        let xh = (x - self.mean[j]) * self.invstd[j];
        let g = if relu && xh * self.gamma[j] + self.beta[j] <= 0.0 {
            0.0
        } else {
            dy
        };
        (xh, g)
    }
}

/// With x̂ = (x − μ)·invstd and g = dy·[γ·x̂ + β > 0] (the fused ReLU's gate, when `relu`):
/// `sb += g`, `sg += g·x̂`.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn bn_grad_sums(x: &[f32], dy: &[f32], t: &Tiled, relu: bool, sb: &mut [f32], sg: &mut [f32]) {
    let n = x.len();
    let (dy, sb, sg) = (&dy[..n], &mut sb[..n], &mut sg[..n]);
    let t = t.prefix(n);
    for j in 0..n {
        let (xh, g) = t.gate(j, x[j], dy[j], relu);
        sb[j] += g;
        sg[j] += g * xh;
    }
}

/// `dx = k·(g − dβ/M − x̂·dγ/M)` with x̂ and g as in [`bn_grad_sums`].
#[allow(clippy::too_many_arguments)]
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn bn_grad_dx(
    dx: &mut [f32],
    x: &[f32],
    dy: &[f32],
    t: &Tiled,
    relu: bool,
    k: &[f32],
    db_m: &[f32],
    dg_m: &[f32],
) {
    let n = dx.len();
    let (x, dy, k, db_m, dg_m) = (&x[..n], &dy[..n], &k[..n], &db_m[..n], &dg_m[..n]);
    let t = t.prefix(n);
    for j in 0..n {
        let (xh, g) = t.gate(j, x[j], dy[j], relu);
        dx[j] = k[j] * (g - db_m[j] - xh * dg_m[j]);
    }
}

/// [`channel_stats`] of an NHWC tensor (two passes, as the NCHW kernel).
pub fn channel_stats_nhwc(x: &[f32], s: Nchw) -> (Vec<f32>, Vec<f32>) {
    let c = s.c.max(1);
    let m = (s.n * s.plane()).max(1) as f64;
    let sum = block_sums(x, c, |block, acc| acc_add(acc, block));
    let mean: Vec<f32> = sum.iter().map(|v| (v / m) as f32).collect();
    let mt = tiled(&mean, c);
    let sq = block_sums(x, c, |block, acc| acc_sq_dev(acc, block, &mt));
    (mean, sq.iter().map(|&v| (v / m) as f32).collect())
}

/// [`scale_shift`] of an NHWC tensor.
pub fn scale_shift_nhwc(x: &[f32], s: Nchw, scale: &[f32], shift: &[f32], relu: bool) -> Vec<f32> {
    let c = s.c.max(1);
    let bl = block_rows(c) * c;
    let (at, bt) = (tiled(scale, c), tiled(shift, c));
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(task_len(c))
        .zip(x.par_chunks(task_len(c)))
        .for_each(|(yo, xi)| {
            for (yb, xb) in yo.chunks_mut(bl).zip(xi.chunks(bl)) {
                affine(yb, xb, &at, &bt, relu);
            }
        });
    y
}

/// [`bn_train_forward`] of an NHWC tensor (output NHWC).
pub fn bn_train_forward_nhwc(
    x: &[f32],
    s: Nchw,
    gamma: &[f32],
    beta: &[f32],
    eps: f64,
    relu: bool,
) -> BnForward {
    let (mean, var) = channel_stats_nhwc(x, s);
    normalise(mean, var, gamma, beta, eps, |a, b| {
        scale_shift_nhwc(x, s, a, b, relu)
    })
}

/// [`bn_train_backward`] with `x` and `dy` NHWC (`dx` NHWC).
#[allow(clippy::too_many_arguments)]
pub fn bn_train_backward_nhwc(
    x: &[f32],
    dy: &[f32],
    s: Nchw,
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    invstd: &[f32],
    relu: bool,
) -> BnBackward {
    let c = s.c.max(1);
    let m = (s.n * s.plane()).max(1) as f64;
    let (bl, tl) = (block_rows(c) * c, task_len(c));
    let (mt, it, gt, bt) = (
        tiled(mean, c),
        tiled(invstd, c),
        tiled(gamma, c),
        tiled(beta, c),
    );
    let t = Tiled {
        mean: &mt,
        invstd: &it,
        gamma: &gt,
        beta: &bt,
    };
    // Σ g (dβ) and Σ g·x̂ (dγ) per channel.
    let sums = x
        .par_chunks(tl)
        .zip(dy.par_chunks(tl))
        .map(|(xs, ds)| {
            let (mut sb, mut sg) = (vec![0f32; bl], vec![0f32; bl]);
            for (xb, db) in xs.chunks(bl).zip(ds.chunks(bl)) {
                bn_grad_sums(xb, db, &t, relu, &mut sb, &mut sg);
            }
            let mut total = vec![0f64; 2 * c];
            let (tb, tg) = total.split_at_mut(c);
            fold_channels(&sb, c, tb);
            fold_channels(&sg, c, tg);
            total
        })
        .reduce(|| vec![0f64; 2 * c], add_totals);
    let (dbeta, dgamma): (Vec<f32>, Vec<f32>) =
        (0..c).map(|j| (sums[j] as f32, sums[c + j] as f32)).unzip();
    let k: Vec<f32> = (0..c).map(|j| gamma[j] * invstd[j]).collect();
    let db_m: Vec<f32> = (0..c).map(|j| (sums[j] / m) as f32).collect();
    let dg_m: Vec<f32> = (0..c).map(|j| (sums[c + j] / m) as f32).collect();
    let (kt, dbt, dgt) = (tiled(&k, c), tiled(&db_m, c), tiled(&dg_m, c));
    let mut dx = vec![0f32; x.len()];
    dx.par_chunks_mut(tl)
        .zip(x.par_chunks(tl).zip(dy.par_chunks(tl)))
        .for_each(|(o, (xs, ds))| {
            for ((ob, xb), db) in o.chunks_mut(bl).zip(xs.chunks(bl)).zip(ds.chunks(bl)) {
                bn_grad_dx(ob, xb, db, &t, relu, &kt, &dbt, &dgt);
            }
        });
    BnBackward { dx, dgamma, dbeta }
}

/// [`max_pool_forward`] of an NHWC tensor: output `[N, OH, OW, C]`, and per output the flat
/// index `h·W + w` of its maximum within the input plane (as the NCHW kernel).
pub fn max_pool_forward_nhwc(x: &[f32], s: Nchw, p: Pool) -> (Vec<f32>, Vec<u32>, usize, usize) {
    let (oh, ow) = (p.out_dim(s.h, 0), p.out_dim(s.w, 1));
    let c = s.c.max(1);
    let row = ow * c; // one output row of one sample
    let mut y = vec![0f32; s.n * oh * row];
    let mut idx = vec![0u32; y.len()];
    y.par_chunks_mut(row.max(1))
        .zip(idx.par_chunks_mut(row.max(1)))
        .enumerate()
        .for_each(|(r, (yo, io))| {
            let (n, i) = (r / oh.max(1), r % oh.max(1));
            let xs = &x[n * s.plane() * c..(n + 1) * s.plane() * c];
            let h0 = (i * p.stride[0]) as isize - p.padding[0] as isize;
            let (hs, he) = (
                h0.max(0) as usize,
                ((h0 + p.kernel[0] as isize) as usize).min(s.h),
            );
            for j in 0..ow {
                let w0 = (j * p.stride[1]) as isize - p.padding[1] as isize;
                let (ws, we) = (
                    w0.max(0) as usize,
                    ((w0 + p.kernel[1] as isize) as usize).min(s.w),
                );
                let (yv, iv) = (&mut yo[j * c..(j + 1) * c], &mut io[j * c..(j + 1) * c]);
                yv.fill(f32::NEG_INFINITY);
                iv.fill((hs * s.w + ws) as u32);
                for rr in hs..he {
                    for cc in ws..we {
                        let at = rr * s.w + cc;
                        max_update(yv, iv, &xs[at * c..(at + 1) * c], at as u32);
                    }
                }
            }
        });
    (y, idx, oh, ow)
}

/// One pixel's channels into a pooling window's running maximum: `best`/`at` take `px`/`here`
/// where `px` is larger (or NaN: a NaN wins, as in PyTorch's kernel).
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn max_update(best: &mut [f32], at: &mut [u32], px: &[f32], here: u32) {
    let (at, px) = (&mut at[..best.len()], &px[..best.len()]);
    for k in 0..best.len() {
        let v = px[k];
        let take = v > best[k] || v.is_nan();
        best[k] = if take { v } else { best[k] };
        at[k] = if take { here } else { at[k] };
    }
}

/// [`max_pool_backward`] with `dy` and `idx` NHWC (`[N, OH, OW, C]`); `dx` NHWC.
pub fn max_pool_backward_nhwc(dy: &[f32], idx: &[u32], s: Nchw, out_plane: usize) -> Vec<f32> {
    let c = s.c.max(1);
    let mut dx = vec![0f32; s.len()];
    dx.par_chunks_mut((s.plane() * c).max(1))
        .zip(
            dy.par_chunks((out_plane * c).max(1))
                .zip(idx.par_chunks((out_plane * c).max(1))),
        )
        .for_each(|(d, (g, i))| {
            for (gr, ir) in g.chunks_exact(c).zip(i.chunks_exact(c)) {
                for (k, (&gv, &at)) in gr.iter().zip(ir).enumerate() {
                    d[at as usize * c + k] += gv;
                }
            }
        });
    dx
}

/// `y = relu(a + b)` (NaN stays NaN, as Burn's and PyTorch's ReLU).
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn add_relu_slice(y: &mut [f32], a: &[f32], b: &[f32]) {
    let (a, b) = (&a[..y.len()], &b[..y.len()]);
    for j in 0..y.len() {
        let v = a[j] + b[j];
        y[j] = if v <= 0.0 { 0.0 } else { v };
    }
}

/// `d = g` where `y > 0`, else 0.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn relu_backward_slice(d: &mut [f32], y: &[f32], g: &[f32]) {
    let (y, g) = (&y[..d.len()], &g[..d.len()]);
    for j in 0..d.len() {
        d[j] = if y[j] > 0.0 { g[j] } else { 0.0 };
    }
}

/// `y = relu(x)` (NaN stays NaN).
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn relu_slice(y: &mut [f32], x: &[f32]) {
    let x = &x[..y.len()];
    for j in 0..y.len() {
        y[j] = if x[j] <= 0.0 { 0.0 } else { x[j] };
    }
}

/// `relu(x)`, any layout.
pub fn relu(x: &[f32]) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(16 * 1024)
        .zip(x.par_chunks(16 * 1024))
        .for_each(|(y, x)| relu_slice(y, x));
    y
}

/// `relu(a + b)`, any layout (both the same).
pub fn add_relu(a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut y = vec![0f32; a.len()];
    y.par_chunks_mut(16 * 1024)
        .zip(a.par_chunks(16 * 1024).zip(b.par_chunks(16 * 1024)))
        .for_each(|(y, (a, b))| add_relu_slice(y, a, b));
    y
}

/// The gradient of a ReLU from its output `y`: `g` where `y > 0`, else 0.
pub fn relu_backward(y: &[f32], g: &[f32]) -> Vec<f32> {
    let mut dx = vec![0f32; y.len()];
    dx.par_chunks_mut(16 * 1024)
        .zip(y.par_chunks(16 * 1024).zip(g.par_chunks(16 * 1024)))
        .for_each(|(d, (y, g))| relu_backward_slice(d, y, g));
    dx
}
