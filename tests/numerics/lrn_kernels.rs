//! convlab-kernels' local response normalisation (`crates/kernels/src/lrn.rs`) against the
//! formula one element at a time: forward in both layouts and both power paths, the
//! inference-only pass, and the backward pass against central differences.

use convlab_kernels::cpu::Nchw;
use convlab_kernels::layout::Layout;
use convlab_kernels::lrn::{LrnConst, backward, forward, infer};

use crate::kernels::transpose;

/// The formula, one element at a time, in NCHW.
fn reference(x: &[f32], s: Nchw, p: LrnConst) -> Vec<f32> {
    let (before, after) = ((p.size - 1) / 2, p.size / 2);
    let hw = s.plane();
    let mut y = vec![0f32; x.len()];
    for n in 0..s.n {
        for c in 0..s.c {
            for i in 0..hw {
                let lo = c.saturating_sub(before);
                let hi = (c + after).min(s.c - 1);
                let sum: f32 = (lo..=hi).map(|j| x[(n * s.c + j) * hw + i].powi(2)).sum();
                let v = x[(n * s.c + c) * hw + i];
                y[(n * s.c + c) * hw + i] = v / (p.k + p.alpha / p.size as f32 * sum).powf(p.beta);
            }
        }
    }
    y
}

fn to_nhwc(x: &[f32], s: Nchw) -> Vec<f32> {
    transpose(x, [s.n, s.c, s.h, s.w], false)
}

/// Both layouts and both power paths give the formula's output, and the backward pass
/// equals the forward pass's finite differences.
#[test]
fn lrn_kernels_are_the_formula_and_its_derivative() {
    let s = Nchw {
        n: 2,
        c: 7,
        h: 3,
        w: 2,
    };
    let x: Vec<f32> = (0..s.len())
        .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.9)
        .collect();
    let g: Vec<f32> = (0..s.len())
        .map(|i| ((i * 13 % 17) as f32 - 8.0) * 0.1)
        .collect();
    for (size, beta) in [(5, 0.75), (3, 0.6), (4, 0.75), (1, 0.5)] {
        let p = LrnConst {
            size,
            alpha: 5e-2,
            beta,
            k: 2.0,
        };
        let want = reference(&x, s, p);
        let (y, saved) = forward(&x, s, Layout::Nchw, p);
        for (a, b) in y.iter().zip(&want) {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{size} {beta}: {a} {b}"
            );
        }
        let (y_cl, saved_cl) = forward(&to_nhwc(&x, s), s, Layout::Nhwc, p);
        assert_eq!(y_cl, to_nhwc(&y, s));
        assert_eq!(infer(&x, s, Layout::Nchw, p), y, "{size} {beta}: inference");
        assert_eq!(infer(&to_nhwc(&x, s), s, Layout::Nhwc, p), y_cl);
        let dx = backward(&x, &g, &saved, s, Layout::Nchw, p);
        let dx_cl = backward(
            &to_nhwc(&x, s),
            &to_nhwc(&g, s),
            &saved_cl,
            s,
            Layout::Nhwc,
            p,
        );
        assert_eq!(dx_cl, to_nhwc(&dx, s));
        // d(Σ g·y)/dx_i by central differences, in f64 around the f32 formula.
        for i in (0..s.len()).step_by(5) {
            let at = |d: f32| -> f64 {
                let mut xs = x.clone();
                xs[i] += d;
                reference(&xs, s, p)
                    .iter()
                    .zip(&g)
                    .map(|(y, g)| (*y as f64) * (*g as f64))
                    .sum()
            };
            let h = 1e-2;
            let numeric = (at(h) - at(-h)) / (2.0 * h as f64);
            assert!(
                (dx[i] as f64 - numeric).abs() <= 2e-3 * numeric.abs().max(1.0),
                "{size} {beta} at {i}: {} vs {numeric}",
                dx[i]
            );
        }
    }
}
