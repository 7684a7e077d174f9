//! convlab-kernels' flex kernels against Burn's own ops (flex forward, Burn's generic backward)
//! on random inputs over a table of shapes: stride 1 and 2 (and 4), padding 0–3 (and
//! asymmetric), kernels 1, 3, 5, 7 and 11, groups 1 and 2, odd sizes, batch 1 — forward and
//! every gradient. Tolerance: 1e-4 of each tensor's own largest magnitude (f32 sums in a
//! different order).

use burn::tensor::module;
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Gradients, Tensor, activation};

use crate::fixture::values;
use crate::{assert_close, device};

const TOL: f64 = 1e-4;

/// Random normal values from a generator of this test's own (the device's generator is
/// process-wide, and tests run in parallel threads).
fn random<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<D> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| {
            // Box–Muller.
            let (a, b): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            ((-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()) as f32
        })
        .collect();
    Tensor::from_data(burn::tensor::TensorData::new(v, shape), &device())
}

fn tracked<const D: usize>(t: &Tensor<D>) -> Tensor<D> {
    Tensor::from_data(t.to_data(), &device().autodiff()).require_grad()
}

fn grad<const D: usize>(t: &Tensor<D>, g: &Gradients) -> Vec<f32> {
    values(t.grad(g).expect("gradient"))
}

/// (batch, in, out, height, width, kernel, stride, padding (top, left, bottom, right), groups, bias)
type ConvCase = (
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    [usize; 4],
    usize,
    bool,
);

const CONV_CASES: [ConvCase; 13] = [
    (2, 3, 4, 7, 9, 3, 1, [1; 4], 1, true),
    (1, 4, 6, 9, 8, 3, 2, [1; 4], 2, false),
    (2, 3, 5, 11, 11, 5, 2, [2; 4], 1, true),
    (1, 2, 3, 5, 5, 1, 1, [0; 4], 1, false),
    (3, 6, 4, 13, 13, 7, 2, [3; 4], 2, true),
    (1, 3, 8, 23, 23, 11, 4, [2; 4], 1, true),
    (2, 8, 8, 6, 6, 3, 1, [0; 4], 1, false),
    (1, 16, 16, 8, 8, 1, 2, [0; 4], 1, false),
    (2, 4, 4, 7, 7, 5, 1, [2; 4], 2, true),
    (1, 2, 2, 3, 3, 3, 1, [3; 4], 1, true),
    // TensorFlow-style "same" with an even kernel: the extra zero after.
    (1, 3, 4, 8, 8, 4, 2, [1, 1, 2, 2], 1, true),
    (2, 2, 6, 9, 7, 3, 1, [0, 1, 1, 0], 2, false),
    (1, 32, 64, 5, 5, 3, 1, [1; 4], 1, true),
];

#[test]
fn conv2d_forward_and_gradients_equal_burns() {
    for (i, &(n, ci, co, h, w, k, s, [pt, pl, pb, pr], g, with_bias)) in
        CONV_CASES.iter().enumerate()
    {
        let seed = 100 + i as u64;
        let x = random([n, ci, h, w], seed);
        let wt = random([co, ci / g, k, k], seed + 1);
        let b = random([co], seed + 2);
        let upstream_shape = {
            let oh = (h + pt + pb - k) / s + 1;
            let ow = (w + pl + pr - k) / s + 1;
            [n, co, oh, ow]
        };
        let up = random(upstream_shape, seed + 3);
        let opts = ConvOptions::new_with_padding([s, s], [(pt, pb), (pl, pr)], [1, 1], g);
        let run = |ours: bool| {
            let (x, wt, b) = (tracked(&x), tracked(&wt), tracked(&b));
            let bias = with_bias.then(|| b.clone());
            let y = if ours {
                convlab_kernels::conv2d(x.clone(), wt.clone(), bias, opts.clone())
            } else {
                module::conv2d(x.clone(), wt.clone(), bias, opts.clone())
            };
            let y_values = values(y.clone());
            let grads = (y * tracked(&up).detach()).sum().backward();
            let gb = with_bias.then(|| grad(&b, &grads));
            (y_values, grad(&x, &grads), grad(&wt, &grads), gb)
        };
        let (ours, burn) = (run(true), run(false));
        let what = format!("conv case {i} {:?}", CONV_CASES[i]);
        assert_close(&format!("{what}: output"), &ours.0, &burn.0, TOL);
        assert_close(&format!("{what}: grad x"), &ours.1, &burn.1, TOL);
        assert_close(&format!("{what}: grad weight"), &ours.2, &burn.2, TOL);
        if let (Some(a), Some(b)) = (&ours.3, &burn.3) {
            assert_close(&format!("{what}: grad bias"), a, b, TOL);
        }
    }
}

/// The oneDNN shim behind flex's convolutions speaks both of oneDNN's C++ APIs (2.x's op
/// descriptors, 3.x's direct primitive descriptors). Its own reference test
/// (`crates/kernels/csrc/test_shim.cpp`: forward, both gradients and the bias gradient against a
/// naive double-precision convolution on 25 shapes — strides, asymmetric padding, dilation,
/// groups, 1×1 to 11×11 — in six layouts from NCHW to NHWC end to end, a second thread, and bad
/// parameters that must return an error) compiled and run against each: the system's oneDNN
/// (Debian 12's 2.6) and PyPI's `onednn-cpu-gomp` 3.2, which `scripts/test.sh` unpacks into
/// `$CONVLAB_ONEDNN3` (default `~/.cache/convlab/onednn-3.2.0`).
#[test]
fn the_onednn_shim_equals_a_reference_convolution_on_onednn_2_and_3() {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    let csrc = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/kernels/csrc");
    let onednn3 = std::env::var_os("CONVLAB_ONEDNN3")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/convlab/onednn-3.2.0")
        });
    assert!(
        onednn3.join("include/dnnl.hpp").is_file(),
        "{}: no oneDNN 3.x (scripts/test.sh unpacks PyPI's onednn-cpu-gomp==2023.2.0 and \
         onednn-devel-cpu-gomp==2023.2.0 there)",
        onednn3.display()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    // (expected version prefix, extra compiler arguments)
    let include = format!("-I{}", onednn3.join("include").display());
    let lib = onednn3.join("lib");
    let builds = [
        ("oneDNN 2.", vec![]),
        (
            "oneDNN 3.",
            vec![
                include,
                format!("-L{}", lib.display()),
                format!("-Wl,-rpath,{}", lib.display()),
            ],
        ),
    ];
    for (i, (version, extra)) in builds.iter().enumerate() {
        let exe = dir.path().join(format!("test_shim_{i}"));
        let out = Command::new("c++")
            .args(["-O2", "-std=c++17"])
            .args(extra)
            .arg(csrc.join("dnnl_shim.cpp"))
            .arg(csrc.join("test_shim.cpp"))
            .args(["-ldnnl", "-o"])
            .arg(&exe)
            .output()
            .expect("running c++ (scripts/test.sh installs g++ with libdnnl-dev)");
        assert!(
            out.status.success(),
            "compiling the shim for {version}x: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = Command::new(&exe)
            .env("OMP_WAIT_POLICY", "passive")
            .output()
            .expect("running test_shim");
        let text = String::from_utf8_lossy(&run.stdout);
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(version),
            "test_shim linked against {first:?}, expected {version}x"
        );
        let failures: Vec<&str> = text.lines().filter(|l| l.contains("FAIL")).collect();
        assert!(
            run.status.success() && text.contains("ALL PASSED"),
            "{first}: test_shim failed:\n{}\n{}",
            failures.join("\n"),
            String::from_utf8_lossy(&run.stderr)
        );
        // Six layouts × 25 shapes, plus one more at one thread.
        let cases = text.lines().filter(|l| l.contains(" layout ")).count();
        assert_eq!(cases, 151, "{first}: cases run");
    }
}

#[test]
fn batch_norm_and_fused_relu_equal_burns() {
    for (i, &[n, c, h, w]) in [[4, 3, 5, 5], [1, 8, 7, 7], [8, 16, 1, 1], [2, 5, 3, 2]]
        .iter()
        .enumerate()
    {
        for relu in [false, true] {
            let seed = 200 + i as u64;
            let x = random([n, c, h, w], seed).mul_scalar(3.0).add_scalar(1.0);
            let gamma = random([c], seed + 1);
            let beta = random([c], seed + 2);
            let up = random([n, c, h, w], seed + 3);
            let run = |ours: bool| {
                let (x, gm, bt) = (tracked(&x), tracked(&gamma), tracked(&beta));
                let (y, mean, var) = if ours {
                    let r = convlab_kernels::batch_norm_train(
                        x.clone(),
                        gm.clone(),
                        bt.clone(),
                        1e-5,
                        relu,
                    );
                    (r.output, r.mean, r.variance)
                } else {
                    let r = module::batch_norm_train(x.clone(), gm.clone(), bt.clone(), 1e-5);
                    let y = if relu {
                        activation::relu(r.output)
                    } else {
                        r.output
                    };
                    (y, r.mean, r.variance)
                };
                let stats = (values(mean), values(var));
                let y_values = values(y.clone());
                let grads = (y * tracked(&up).detach()).sum().backward();
                (
                    y_values,
                    stats,
                    grad(&x, &grads),
                    grad(&gm, &grads),
                    grad(&bt, &grads),
                )
            };
            let (ours, burn) = (run(true), run(false));
            let what = format!("bn {:?} relu {relu}", [n, c, h, w]);
            assert_close(&format!("{what}: output"), &ours.0, &burn.0, TOL);
            assert_close(&format!("{what}: mean"), &ours.1.0, &burn.1.0, TOL);
            assert_close(&format!("{what}: variance"), &ours.1.1, &burn.1.1, TOL);
            assert_close(&format!("{what}: grad x"), &ours.2, &burn.2, TOL);
            assert_close(&format!("{what}: grad gamma"), &ours.3, &burn.3, TOL);
            assert_close(&format!("{what}: grad beta"), &ours.4, &burn.4, TOL);
            // Evaluation mode on a plain device: the fused single pass.
            let (mean, var) = (random([c], seed + 4), random([c], seed + 5).abs());
            let ours = convlab_kernels::batch_norm_eval(
                x.clone(),
                gamma.clone(),
                beta.clone(),
                mean.clone(),
                var.clone(),
                1e-5,
                relu,
            );
            let burn = module::batch_norm(x.clone(), gamma.clone(), beta.clone(), mean, var, 1e-5);
            let burn = if relu { activation::relu(burn) } else { burn };
            assert_close(&format!("{what}: eval"), &values(ours), &values(burn), TOL);
        }
    }
}

/// Evaluation's conv → batch norm → ReLU with the batch norm folded into the convolution and the
/// ReLU as oneDNN's post-op (`conv2d_bn_eval` on a plain flex device) equals Burn's convolution,
/// batch norm and ReLU, on every convolution case of the table, with and without bias and ReLU,
/// for an NCHW input and for a channels-last one (the output of a 1×1 identity convolution).
#[test]
fn conv_with_batch_norm_folded_for_evaluation_equals_burns() {
    for (i, &(n, ci, co, h, w, k, s, [pt, pl, pb, pr], g, with_bias)) in
        CONV_CASES.iter().enumerate()
    {
        let seed = 150 + i as u64;
        let x = random([n, ci, h, w], seed);
        let eye: Vec<f32> = (0..ci * ci)
            .map(|j| f32::from(u8::from(j / ci == j % ci)))
            .collect();
        let eye = Tensor::<4>::from_data(
            burn::tensor::TensorData::new(eye, [ci, ci, 1, 1]),
            &device(),
        );
        let x_cl = convlab_kernels::conv2d(
            x.clone(),
            eye,
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        );
        let wt = random([co, ci / g, k, k], seed + 1);
        let b = with_bias.then(|| random([co], seed + 2));
        let (gamma, beta) = (random([co], seed + 3), random([co], seed + 4));
        let (mean, var) = (random([co], seed + 5), random([co], seed + 6).abs());
        let opts = ConvOptions::new_with_padding([s, s], [(pt, pb), (pl, pr)], [1, 1], g);
        for relu in [false, true] {
            let burn = module::batch_norm(
                module::conv2d(x.clone(), wt.clone(), b.clone(), opts.clone()),
                gamma.clone(),
                beta.clone(),
                mean.clone(),
                var.clone(),
                1e-5,
            );
            let burn = values(if relu { activation::relu(burn) } else { burn });
            for (layout, input) in [("nchw", &x), ("channels-last", &x_cl)] {
                let bn = convlab_kernels::BatchNormEval {
                    gamma: gamma.clone(),
                    beta: beta.clone(),
                    mean: mean.clone(),
                    variance: var.clone(),
                    epsilon: 1e-5,
                };
                let ours = convlab_kernels::conv2d_bn_eval(
                    input.clone(),
                    wt.clone(),
                    b.clone(),
                    bn,
                    opts.clone(),
                    relu,
                );
                let what = format!("conv case {i} {:?} relu {relu} {layout}", CONV_CASES[i]);
                assert_close(&what, &values(ours), &burn, TOL);
            }
        }
    }
}

#[test]
fn max_pooling_and_its_gradient_equal_burns() {
    // (kernel, stride, padding, ceil)
    let cases = [
        (2, 2, 0, false),
        (3, 2, 0, false),
        (3, 2, 0, true),
        (3, 2, 1, false),
        (3, 1, 1, true),
        (1, 2, 0, false),
        (2, 2, 1, true),
    ];
    for (i, &(k, s, p, ceil)) in cases.iter().enumerate() {
        for &[n, c, h, w] in &[[2, 3, 7, 7], [1, 2, 8, 9], [3, 1, 6, 5]] {
            let seed = 300 + i as u64;
            let x = random([n, c, h, w], seed);
            let opts = MaxPoolOptions::new([k, k])
                .with_stride([s, s])
                .with_padding([p, p])
                .with_ceil_mode(ceil);
            // Drawn once, outside the runs: the seed is process-wide and tests run in threads.
            let up = random(module::max_pool2d(x.clone(), opts.clone()).dims(), seed + 1);
            let run = |ours: bool| {
                let x = tracked(&x);
                let y = if ours {
                    convlab_kernels::max_pool2d(x.clone(), opts.clone())
                } else {
                    module::max_pool2d(x.clone(), opts.clone())
                };
                let dims = y.dims();
                let y_values = values(y.clone());
                let grads = (y * tracked(&up).detach()).sum().backward();
                (dims, y_values, grad(&x, &grads))
            };
            let (ours, burn) = (run(true), run(false));
            let what = format!("pool {k}x{k}/{s} p{p} ceil {ceil} on {:?}", [n, c, h, w]);
            assert_eq!(ours.0, burn.0, "{what}: output shape");
            assert_close(&format!("{what}: output"), &ours.1, &burn.1, 0.0);
            assert_close(&format!("{what}: grad x"), &ours.2, &burn.2, 1e-6);
        }
    }
}

/// `[N, C, H, W]` values → `[N, H, W, C]` (or back, with `inverse`).
pub(crate) fn transpose(v: &[f32], [n, c, h, w]: [usize; 4], inverse: bool) -> Vec<f32> {
    let mut out = vec![0f32; v.len()];
    for a in 0..n {
        for k in 0..c {
            for p in 0..h * w {
                let (nchw, nhwc) = ((a * c + k) * h * w + p, (a * h * w + p) * c + k);
                if inverse {
                    out[nchw] = v[nhwc];
                } else {
                    out[nhwc] = v[nchw];
                }
            }
        }
    }
    out
}

/// The channels-last kernels (`cpu::*_nhwc`, used when activations are stored NHWC) against the
/// NCHW ones on the same values, transposed: batch norm forward and backward with and without
/// the fused ReLU, the evaluation-mode affine map, max pooling (output, argmax, gradient), over
/// channel counts that are and are not multiples of the vector width and sizes that leave a
/// partial last block.
#[test]
fn channels_last_kernels_equal_the_nchw_ones() {
    use convlab_kernels::cpu::{self, Nchw, Pool};
    for (i, &[n, c, h, w]) in [
        [4, 3, 5, 5],
        [2, 16, 8, 8],
        [3, 64, 4, 4],
        [1, 5, 9, 7],
        [2, 100, 3, 3],
    ]
    .iter()
    .enumerate()
    {
        let dims = [n, c, h, w];
        let s = Nchw { n, c, h, w };
        let seed = 400 + i as u64;
        let x = values(random(dims, seed).mul_scalar(2.0).add_scalar(0.5));
        let dy = values(random(dims, seed + 1));
        let gamma = values(random([c], seed + 2));
        let beta = values(random([c], seed + 3));
        let (xt, dyt) = (transpose(&x, dims, false), transpose(&dy, dims, false));
        let back = |v: &[f32]| transpose(v, dims, true);
        for relu in [false, true] {
            let what = format!("{dims:?} relu {relu}");
            let a = cpu::bn_train_forward(&x, s, &gamma, &beta, 1e-5, relu);
            let b = cpu::bn_train_forward_nhwc(&xt, s, &gamma, &beta, 1e-5, relu);
            assert_close(&format!("{what}: bn output"), &back(&b.y), &a.y, TOL);
            assert_close(&format!("{what}: bn mean"), &b.mean, &a.mean, TOL);
            assert_close(&format!("{what}: bn variance"), &b.var, &a.var, TOL);
            let ga = cpu::bn_train_backward(&x, &dy, s, &gamma, &beta, &a.mean, &a.invstd, relu);
            let gb =
                cpu::bn_train_backward_nhwc(&xt, &dyt, s, &gamma, &beta, &a.mean, &a.invstd, relu);
            assert_close(&format!("{what}: bn grad x"), &back(&gb.dx), &ga.dx, TOL);
            assert_close(
                &format!("{what}: bn grad gamma"),
                &gb.dgamma,
                &ga.dgamma,
                TOL,
            );
            assert_close(&format!("{what}: bn grad beta"), &gb.dbeta, &ga.dbeta, TOL);
            let ya = cpu::scale_shift(&x, s, &gamma, &beta, relu);
            let yb = cpu::scale_shift_nhwc(&xt, s, &gamma, &beta, relu);
            assert_close(&format!("{what}: scale-shift"), &back(&yb), &ya, 0.0);
        }
        for p in [
            Pool {
                kernel: [2, 2],
                stride: [2, 2],
                padding: [0, 0],
                ceil_mode: false,
            },
            Pool {
                kernel: [3, 3],
                stride: [2, 2],
                padding: [1, 1],
                ceil_mode: true,
            },
        ] {
            let what = format!("{dims:?} pool {p:?}");
            let (ya, ia, oh, ow) = cpu::max_pool_forward(&x, s, p);
            let (yb, ib, oh2, ow2) = cpu::max_pool_forward_nhwc(&xt, s, p);
            assert_eq!((oh, ow), (oh2, ow2), "{what}");
            let od = [n, c, oh, ow];
            assert_eq!(transpose(&yb, od, true), ya, "{what}: output");
            let ib: Vec<f32> = ib.iter().map(|&v| v as f32).collect();
            let ia: Vec<f32> = ia.iter().map(|&v| v as f32).collect();
            assert_eq!(transpose(&ib, od, true), ia, "{what}: argmax");
            let g = values(random(od, seed + 4));
            let da = cpu::max_pool_backward(
                &g,
                &ia.iter().map(|&v| v as u32).collect::<Vec<_>>(),
                s,
                oh * ow,
            );
            let gt = transpose(&g, od, false);
            let it: Vec<u32> = transpose(&ia, od, false)
                .iter()
                .map(|&v| v as u32)
                .collect();
            let db = cpu::max_pool_backward_nhwc(&gt, &it, s, oh * ow);
            assert_close(&format!("{what}: grad"), &back(&db), &da, 0.0);
        }
        let (ra, rb) = (cpu::add_relu(&x, &dy), cpu::relu_backward(&x, &dy));
        assert!(
            ra.iter()
                .zip(x.iter().zip(&dy))
                .all(|(&r, (&a, &b))| r == (a + b).max(0.0))
        );
        assert!(
            rb.iter()
                .zip(x.iter().zip(&dy))
                .all(|(&r, (&y, &g))| r == if y > 0.0 { g } else { 0.0 })
        );
    }
}

/// Local response normalisation: the fused kernels (flex, forward and backward) against Burn's
/// `LocalResponseNorm` (its generic backward) for AlexNet's constants and others, on inputs
/// large enough that the window's sum matters (×10, as the PyTorch fixture), in both layouts:
/// an NCHW input, and the channels-last output of a 1×1 identity convolution (where oneDNN
/// makes activations NHWC). The kernel functions themselves, NHWC against NCHW, bit for bit.
#[test]
fn local_response_norm_equals_burns() {
    use burn::nn::LocalResponseNormConfig;
    use convlab_kernels::cpu::Nchw;
    use convlab_kernels::layout::Layout;
    use convlab_kernels::lrn::{LrnConst, backward, forward};
    for (i, &([n, c, h, w], size, beta)) in [
        ([2, 8, 4, 4], 5, 0.75),
        ([1, 17, 5, 3], 5, 0.75),
        ([3, 4, 2, 2], 3, 0.6),
        ([2, 33, 3, 3], 4, 0.75),
        ([1, 3, 6, 6], 1, 0.5),
    ]
    .iter()
    .enumerate()
    {
        let (alpha, k) = (5e-4, 2.0);
        let seed = 500 + i as u64;
        let x = random([n, c, h, w], seed).mul_scalar(10.0);
        let up = random([n, c, h, w], seed + 1);
        let eye: Vec<f32> = (0..c * c)
            .map(|j| if j / c == j % c { 1.0 } else { 0.0 })
            .collect();
        let eye = burn::tensor::TensorData::new(eye, [c, c, 1, 1]);
        for through_conv in [false, true] {
            let run = |ours: bool| {
                let x = tracked(&x);
                let input = if through_conv {
                    let e = Tensor::<4>::from_data(eye.clone(), &device().autodiff());
                    let opts = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
                    convlab_kernels::conv2d(x.clone(), e, None, opts)
                } else {
                    x.clone()
                };
                let y = if ours {
                    convlab_kernels::lrn(input, size, alpha, beta, k)
                } else {
                    LocalResponseNormConfig::new(size)
                        .with_alpha(alpha)
                        .with_beta(beta)
                        .with_k(k)
                        .init()
                        .forward(input)
                };
                let y_values = values(y.clone());
                let grads = (y * tracked(&up).detach()).sum().backward();
                (y_values, grad(&x, &grads))
            };
            let (ours, burn) = (run(true), run(false));
            let what = format!(
                "lrn {:?} size {size} beta {beta} conv {through_conv}",
                [n, c, h, w]
            );
            assert_close(&format!("{what}: output"), &ours.0, &burn.0, TOL);
            assert_close(&format!("{what}: grad x"), &ours.1, &burn.1, TOL);
            // Inference (no backward pass to feed: flex without autodiff, and an untracked
            // tensor under autodiff) takes the one-buffer pass, with the same output.
            for dev in [device(), device().autodiff()] {
                let x = Tensor::<4>::from_data(x.to_data(), &dev);
                let input = if through_conv {
                    let e = Tensor::<4>::from_data(eye.clone(), &dev);
                    let opts = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
                    convlab_kernels::conv2d(x, e, None, opts)
                } else {
                    x
                };
                let y = values(convlab_kernels::lrn(input, size, alpha, beta, k));
                assert_eq!(y, ours.0, "{what}: inference output");
            }
        }
        let s = Nchw { n, c, h, w };
        let p = LrnConst {
            size,
            alpha: alpha as f32,
            beta: beta as f32,
            k: k as f32,
        };
        let dims = [n, c, h, w];
        let (xv, gv) = (values(x.clone()), values(up.clone()));
        let (xt, gt) = (transpose(&xv, dims, false), transpose(&gv, dims, false));
        let (ya, sa) = forward(&xv, s, Layout::Nchw, p);
        let (yb, sb) = forward(&xt, s, Layout::Nhwc, p);
        assert_eq!(transpose(&yb, dims, true), ya, "{dims:?}: NHWC output");
        let da = backward(&xv, &gv, &sa, s, Layout::Nchw, p);
        let db = backward(&xt, &gt, &sb, s, Layout::Nhwc, p);
        assert_eq!(transpose(&db, dims, true), da, "{dims:?}: NHWC gradient");
    }
}
