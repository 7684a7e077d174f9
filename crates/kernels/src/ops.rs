//! Public operations: on flex (f32) they run this crate's kernels through the backend
//! extension in `flex.rs`; on every other backend, and with `CONVLAB_KERNELS=burn` in the
//! environment (for A/B measurements), they are Burn's own ops. Both give the same numbers
//! within float rounding (tests prove it on a table of shapes, forward and every gradient).

use std::sync::OnceLock;

use burn::backend::{Dispatch, DispatchDevice};
use burn::tensor::module;
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{DType, Tensor, TensorData, activation};

use crate::flex::KernelOps;

/// Whether the kernels are switched on (`CONVLAB_KERNELS=burn` switches them off).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("CONVLAB_KERNELS").map_or(true, |v| v != "burn"))
}

/// Which kernels flex uses in this process, e.g. `convlab kernels, convolutions by oneDNN
/// 2.6.3 (cpu runtime: OpenMP), channels-last activations`.
pub fn conv_engine() -> String {
    if !enabled() {
        return "Burn's own ops (CONVLAB_KERNELS=burn)".into();
    }
    #[cfg(convlab_dnnl)]
    return format!(
        "convlab kernels, convolutions by {}, {} activations",
        crate::dnnl::version(),
        if crate::layout::channels_last() {
            "channels-last"
        } else {
            "NCHW (CONVLAB_CHANNELS_LAST=0)"
        }
    );
    #[cfg(not(convlab_dnnl))]
    "convlab kernels, Burn's convolutions (built without oneDNN)".into()
}

fn on_flex<const D: usize>(t: &Tensor<D>) -> bool {
    enabled()
        && t.dtype() == DType::F32
        && matches!(
            t.device().as_dispatch().clone().inner(),
            DispatchDevice::Flex(_)
        )
}

/// 2-D convolution, PyTorch's `F.conv2d` with per-side padding: `x [N, C, H, W]`,
/// `weight [F, C/groups, KH, KW]`, `bias [F]` → `[N, F, H', W']`.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    if !on_flex(&x) {
        return module::conv2d(x, weight, bias, options);
    }
    let out = match bias {
        Some(b) => <Dispatch as KernelOps>::cl_conv2d_bias(
            x.into_dispatch(),
            weight.into_dispatch(),
            b.into_dispatch(),
            options,
        ),
        None => {
            <Dispatch as KernelOps>::cl_conv2d(x.into_dispatch(), weight.into_dispatch(), options)
        }
    };
    Tensor::from_dispatch(out)
}

/// A batch norm with given statistics (evaluation, or a frozen layer):
/// `y = γ (x − mean) / √(variance + ε) + β` per channel.
pub struct BatchNormEval {
    pub gamma: Tensor<1>,
    pub beta: Tensor<1>,
    pub mean: Tensor<1>,
    pub variance: Tensor<1>,
    pub epsilon: f64,
}

/// A convolution, then a batch norm with given statistics, then ReLU when `relu`: the
/// evaluation path of a conv → batch norm → ReLU block. On flex without autodiff the batch norm
/// is folded into the convolution, `w·s` and `(b − mean)·s + β` with `s = γ/√(variance + ε)`,
/// and the ReLU is oneDNN's post-op: one pass over the output instead of a convolution and a
/// batch-norm pass. Elsewhere (and on an autodiff device, where the weights have gradients)
/// [`conv2d`] then [`batch_norm_eval`].
pub fn conv2d_bn_eval(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    bn: BatchNormEval,
    options: ConvOptions<2>,
    relu: bool,
) -> Tensor<4> {
    if on_flex(&x) && !x.device().is_autodiff() {
        let f = weight.dims()[0];
        let (scale, shift) = affine(bn.gamma, bn.beta, bn.mean, bn.variance, bn.epsilon);
        // conv(x, w·s) + b·s + shift = (conv(x, w) + b)·s + shift.
        let shift = match bias {
            Some(b) => shift.add(b.mul(scale.clone())),
            None => shift,
        };
        let weight = weight.mul(scale.reshape([f, 1, 1, 1]));
        let (x, w, b) = (
            x.into_dispatch(),
            weight.into_dispatch(),
            shift.into_dispatch(),
        );
        return Tensor::from_dispatch(if relu {
            <Dispatch as KernelOps>::cl_conv2d_bias_relu(x, w, b, options)
        } else {
            <Dispatch as KernelOps>::cl_conv2d_bias(x, w, b, options)
        });
    }
    let y = conv2d(x, weight, bias, options);
    batch_norm_eval(y, bn.gamma, bn.beta, bn.mean, bn.variance, bn.epsilon, relu)
}

/// Output and batch statistics of a training-mode batch norm.
pub struct BatchNormTrain {
    /// Normalised (and, if asked, rectified) output, shaped as the input.
    pub output: Tensor<4>,
    /// Per-channel batch mean, detached.
    pub mean: Tensor<1>,
    /// Per-channel biased (population) batch variance, detached.
    pub variance: Tensor<1>,
}

/// Batch norm with the batch's own statistics, `relu` applied after when asked:
/// `y = γ (x − μ_B) / √(σ²_B + ε) + β`, statistics over N, H, W per channel.
pub fn batch_norm_train(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
    relu: bool,
) -> BatchNormTrain {
    if on_flex(&x) {
        let (y, mean, var) = <Dispatch as KernelOps>::cl_batch_norm_train(
            x.into_dispatch(),
            gamma.into_dispatch(),
            beta.into_dispatch(),
            epsilon,
            relu,
        );
        return BatchNormTrain {
            output: Tensor::from_dispatch(y),
            mean: Tensor::from_dispatch(mean),
            variance: Tensor::from_dispatch(var),
        };
    }
    let r = module::batch_norm_train(x, gamma, beta, epsilon);
    BatchNormTrain {
        output: if relu {
            activation::relu(r.output)
        } else {
            r.output
        },
        mean: r.mean,
        variance: r.variance,
    }
}

/// Batch norm with given statistics (evaluation, or a frozen layer), `relu` after when asked.
/// Differentiable on an autodiff device (Burn's composed op); a single fused pass otherwise.
pub fn batch_norm_eval(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    mean: Tensor<1>,
    variance: Tensor<1>,
    epsilon: f64,
    relu: bool,
) -> Tensor<4> {
    if on_flex(&x) && !x.device().is_autodiff() {
        // One pass: y = x·scale + shift.
        let (scale, shift) = affine(gamma, beta, mean, variance, epsilon);
        return Tensor::from_dispatch(<Dispatch as KernelOps>::cl_scale_shift(
            x.into_dispatch(),
            scale.into_dispatch(),
            shift.into_dispatch(),
            relu,
        ));
    }
    let y = module::batch_norm(x, gamma, beta, mean, variance, epsilon);
    if relu { activation::relu(y) } else { y }
}

/// A batch norm with given statistics as a per-channel affine map `x·scale + shift`:
/// `scale = γ/√(variance + ε)`, `shift = β − mean·scale`.
fn affine(
    gamma: Tensor<1>,
    beta: Tensor<1>,
    mean: Tensor<1>,
    variance: Tensor<1>,
    epsilon: f64,
) -> (Tensor<1>, Tensor<1>) {
    let scale = gamma.div(variance.add_scalar(epsilon).sqrt());
    let shift = beta.sub(mean.mul(scale.clone()));
    (scale, shift)
}

/// Max pooling with PyTorch's semantics (`ceil_mode` windows that start inside the padded
/// input).
pub fn max_pool2d(x: Tensor<4>, options: MaxPoolOptions<2>) -> Tensor<4> {
    let symmetric = options.padding.iter().all(|(a, b)| a == b);
    if on_flex(&x) && symmetric && options.dilation == [1, 1] {
        return Tensor::from_dispatch(<Dispatch as KernelOps>::cl_max_pool2d(
            x.into_dispatch(),
            options,
        ));
    }
    module::max_pool2d(x, options)
}

/// `relu(a + b)` for two `[N, C, H, W]` tensors of one shape (a residual block's output): one
/// pass on flex, keeping the operands' channels-last layout; Burn's ops elsewhere.
pub fn add_relu(a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    if on_flex(&a) && a.dims() == b.dims() {
        return Tensor::from_dispatch(<Dispatch as KernelOps>::cl_add_relu(
            a.into_dispatch(),
            b.into_dispatch(),
        ));
    }
    activation::relu(a + b)
}

/// `relu(x)` of an `[N, C, H, W]` activation: on flex in one pass that keeps its channels-last
/// layout (Burn's own ReLU writes a strided input back as NCHW); Burn's op elsewhere.
pub fn relu(x: Tensor<4>) -> Tensor<4> {
    if on_flex(&x) {
        return Tensor::from_dispatch(<Dispatch as KernelOps>::cl_relu(x.into_dispatch()));
    }
    activation::relu(x)
}

/// Local response normalisation across channels, PyTorch's `F.local_response_norm`:
/// `x / (k + alpha/size · Σ_window x²)^beta` over `size` neighbouring channels (zero beyond the
/// edges). On flex, fused kernels in the activation's layout (forward and backward); elsewhere
/// tensor ops, the window's sum a 1×1 convolution with a band of ones.
pub fn lrn(x: Tensor<4>, size: usize, alpha: f64, beta: f64, k: f64) -> Tensor<4> {
    let size = size.max(1);
    if on_flex(&x) {
        let p = crate::lrn::LrnConst {
            size,
            alpha: alpha as f32,
            beta: beta as f32,
            k: k as f32,
        };
        return Tensor::from_dispatch(<Dispatch as KernelOps>::cl_lrn(x.into_dispatch(), p));
    }
    let [_, c, _, _] = x.dims();
    let (before, after) = ((size - 1) / 2, size / 2);
    let band: Vec<f32> = (0..c * c)
        .map(|i| {
            let (o, from) = (i / c, i % c);
            f32::from(u8::from(from + before >= o && from <= o + after))
        })
        .collect();
    let band = Tensor::<4>::from_data(TensorData::new(band, [c, c, 1, 1]), &x.device());
    let sum = module::conv2d(
        x.clone().square(),
        band,
        None,
        ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
    );
    let base = sum.mul_scalar(alpha / size as f64).add_scalar(k);
    // AlexNet's 0.75 as √b·√√b: square roots, not a general power per element.
    let power = if beta == 0.75 {
        let root = base.sqrt();
        root.clone() * root.sqrt()
    } else {
        base.powf_scalar(beta)
    };
    x / power
}
