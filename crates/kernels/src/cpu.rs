//! Kernels on contiguous NCHW `f32` slices: batch norm (optionally fused with the ReLU that
//! follows it) forward and backward, and max pooling with its argmax and backward. Parallel
//! over channels or planes with rayon. Statistics accumulate in `f64`.

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
    let invstd: Vec<f32> = var
        .iter()
        .map(|&v| (1.0 / (v as f64 + eps).sqrt()) as f32)
        .collect();
    let scale: Vec<f32> = (0..s.c).map(|c| gamma[c] * invstd[c]).collect();
    let shift: Vec<f32> = (0..s.c).map(|c| beta[c] - mean[c] * scale[c]).collect();
    BnForward {
        y: scale_shift(x, s, &scale, &shift, relu),
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
