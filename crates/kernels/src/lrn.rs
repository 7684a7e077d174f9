//! Local response normalisation across channels, PyTorch's convention, forward and backward in
//! a few fused passes over either layout (NCHW, or the channels-last NHWC of the convolutions):
//!
//! `s_c = k + alpha/size · Σ_{j = c−(size−1)/2}^{c+size/2} x_j²` (channels beyond the edges
//! count 0), `q_c = s_c^−beta`, `y_c = x_c · q_c`, and for an output gradient `g`:
//! `dx_i = g_i · q_i − 2·alpha·beta/size · x_i · Σ_{c = i−size/2}^{i+(size−1)/2} g_c · x_c · q_c / s_c`
//! (the channels `c` whose window holds `i`).
//!
//! Burn's own op averages over `[N·H·W, 1, C]` and takes a general power per element: a pass
//! for every step, in both directions. Half-width AlexNet-CIFAR on 1×32×32 (LRN after its first
//! two convolutions), batch 128, one thread on flex, training images/s, measured three times
//! each beside a running ablation suite on an AMD EPYC (Zen 4) with 2 cores, so noisy:
//! with Burn's LRN 82–105, with these kernels 253–332, without LRN 206–357
//! (`RAYON_NUM_THREADS=1 convlab bench --one '{"arch":"alexnet-cifar","classes":10,
//! "input":[1,32,32],"dropout":0.5,"width":0.5,"init":"kaiming","lrn":true}' --steps 6`).
//! Off flex, `ops::lrn` uses tensor ops, the window's sum as a 1×1 convolution.

use multiversion::multiversion;
use rayon::prelude::*;

use crate::cpu::Nchw;
use crate::layout::Layout;

/// The layer's constants (`alpha` is divided by `size`, as in PyTorch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrnConst {
    pub size: usize,
    pub alpha: f32,
    pub beta: f32,
    pub k: f32,
}

impl LrnConst {
    /// Channels before and after `c` in its window.
    fn reach(&self) -> (usize, usize) {
        ((self.size.max(1) - 1) / 2, self.size.max(1) / 2)
    }
}

/// What the forward pass keeps for the backward one: `s` and `q = s^−beta`.
#[derive(Debug, Clone)]
pub struct LrnSaved {
    pub s: Vec<f32>,
    pub q: Vec<f32>,
}

/// Σ over each channel's window (`before` channels below it, `after` above) of `v` (squared
/// first with `square`), per sample, in `layout`.
fn window_sum(
    v: &[f32],
    s: Nchw,
    layout: Layout,
    before: usize,
    after: usize,
    square: bool,
) -> Vec<f32> {
    let (c, hw) = (s.c, s.plane());
    let mut out = vec![0f32; v.len()];
    if v.is_empty() {
        return out;
    }
    let chunk = match layout {
        Layout::Nchw => c * hw,
        // Whole pixels, about `CHUNK` values.
        Layout::Nhwc => c * (CHUNK / c).max(1),
    };
    out.par_chunks_mut(chunk)
        .zip(v.par_chunks(chunk))
        .for_each(|(o, v)| match layout {
            Layout::Nchw => window_planes(o, v, c, hw, before, after, square),
            Layout::Nhwc => window_pixels(o, v, c, before, after, square),
        });
    out
}

/// One sample in NCHW: output plane `ch` is the sum of the (squared) input planes in its
/// window.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn window_planes(
    o: &mut [f32],
    v: &[f32],
    c: usize,
    hw: usize,
    before: usize,
    after: usize,
    square: bool,
) {
    for ch in 0..c {
        let dst = &mut o[ch * hw..(ch + 1) * hw];
        for j in ch.saturating_sub(before)..=(ch + after).min(c - 1) {
            let src = &v[j * hw..(j + 1) * hw];
            if square {
                for (d, &x) in dst.iter_mut().zip(src) {
                    *d += x * x;
                }
            } else {
                for (d, &x) in dst.iter_mut().zip(src) {
                    *d += x;
                }
            }
        }
    }
}

/// Whole pixels in NHWC, each `c` channels: the window's sum as shifted slices added, in the
/// same order as [`window_planes`] (input channel ascending), so both layouts agree bit for bit.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn window_pixels(o: &mut [f32], v: &[f32], c: usize, before: usize, after: usize, square: bool) {
    for (o, v) in o.chunks_mut(c).zip(v.chunks(c)) {
        // Output channel ch gains input channel ch + d − before, where it exists.
        for d in 0..=before + after {
            let lo = before.saturating_sub(d);
            let hi = (c + before).saturating_sub(d).min(c);
            if lo >= hi {
                continue;
            }
            let src = &v[lo + d - before..hi + d - before];
            let dst = &mut o[lo..hi];
            if square {
                for (o, &x) in dst.iter_mut().zip(src) {
                    *o += x * x;
                }
            } else {
                for (o, &x) in dst.iter_mut().zip(src) {
                    *o += x;
                }
            }
        }
    }
}

/// `s = k + a·w` (in place), `q = s^−beta`, `y = x·q`. AlexNet's beta 0.75 as `1/(√s·√√s)`,
/// which vectorises; a general power is a library call per element.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn scale_slice(w: &mut [f32], q: &mut [f32], y: &mut [f32], x: &[f32], a: f32, k: f32, beta: f32) {
    let n = w.len();
    let (q, y, x) = (&mut q[..n], &mut y[..n], &x[..n]);
    if beta == 0.75 {
        for j in 0..n {
            let s = k + a * w[j];
            let r = s.sqrt();
            let qj = 1.0 / (r * r.sqrt());
            w[j] = s;
            q[j] = qj;
            y[j] = x[j] * qj;
        }
    } else {
        for j in 0..n {
            let s = k + a * w[j];
            let qj = s.powf(-beta);
            w[j] = s;
            q[j] = qj;
            y[j] = x[j] * qj;
        }
    }
}

/// `w = x·(k + a·w)^−beta` in place: [`scale_slice`]'s `y` by the same operations (so equal to
/// it bit for bit), without keeping `s` or `q`.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn scale_in_place(w: &mut [f32], x: &[f32], a: f32, k: f32, beta: f32) {
    let n = w.len();
    let x = &x[..n];
    if beta == 0.75 {
        for j in 0..n {
            let s = k + a * w[j];
            let r = s.sqrt();
            w[j] = x[j] * (1.0 / (r * r.sqrt()));
        }
    } else {
        for j in 0..n {
            let s = k + a * w[j];
            w[j] = x[j] * s.powf(-beta);
        }
    }
}

/// `t = g·x·q/s`.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn t_slice(t: &mut [f32], g: &[f32], x: &[f32], q: &[f32], s: &[f32]) {
    let n = t.len();
    let (g, x, q, s) = (&g[..n], &x[..n], &q[..n], &s[..n]);
    for j in 0..n {
        t[j] = g[j] * x[j] * q[j] / s[j];
    }
}

/// `dx = g·q − m·x·u`.
#[multiversion(targets("x86_64+avx512f+avx512vl", "x86_64+avx2+fma"))]
fn dx_slice(dx: &mut [f32], g: &[f32], q: &[f32], x: &[f32], m: f32) {
    let n = dx.len();
    let (g, q, x) = (&g[..n], &q[..n], &x[..n]);
    for j in 0..n {
        dx[j] = g[j] * q[j] - m * x[j] * dx[j];
    }
}

const CHUNK: usize = 16 * 1024;

/// The output and what the backward pass needs, `x` in `layout`.
pub fn forward(x: &[f32], s: Nchw, layout: Layout, p: LrnConst) -> (Vec<f32>, LrnSaved) {
    let (before, after) = p.reach();
    let mut w = window_sum(x, s, layout, before, after, true);
    let mut q = vec![0f32; x.len()];
    let mut y = vec![0f32; x.len()];
    let a = p.alpha / p.size.max(1) as f32;
    w.par_chunks_mut(CHUNK)
        .zip(q.par_chunks_mut(CHUNK))
        .zip(y.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)))
        .for_each(|((w, q), (y, x))| scale_slice(w, q, y, x, a, p.k, p.beta));
    (y, LrnSaved { s: w, q })
}

/// The output alone, for inference: one buffer instead of three, nothing kept for a backward
/// pass; equal to [`forward`]'s output bit for bit.
pub fn infer(x: &[f32], s: Nchw, layout: Layout, p: LrnConst) -> Vec<f32> {
    let (before, after) = p.reach();
    let mut w = window_sum(x, s, layout, before, after, true);
    let a = p.alpha / p.size.max(1) as f32;
    w.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(w, x)| scale_in_place(w, x, a, p.k, p.beta));
    w
}

/// `dx` for the output gradient `g`, all in `layout`.
pub fn backward(
    x: &[f32],
    g: &[f32],
    saved: &LrnSaved,
    s: Nchw,
    layout: Layout,
    p: LrnConst,
) -> Vec<f32> {
    let (before, after) = p.reach();
    let mut t = vec![0f32; x.len()];
    t.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK).zip(x.par_chunks(CHUNK)))
        .zip(saved.q.par_chunks(CHUNK).zip(saved.s.par_chunks(CHUNK)))
        .for_each(|((t, (g, x)), (q, s))| t_slice(t, g, x, q, s));
    // The channels whose window holds i: the window reversed.
    let mut dx = window_sum(&t, s, layout, after, before, false);
    drop(t);
    let m = 2.0 * p.alpha * p.beta / p.size.max(1) as f32;
    dx.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(saved.q.par_chunks(CHUNK).zip(x.par_chunks(CHUNK)))
        .for_each(|((d, g), (q, x))| dx_slice(d, g, q, x, m));
    dx
}
