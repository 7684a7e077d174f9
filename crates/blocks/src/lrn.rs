use burn::module::Module;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::ShapeError;
use crate::trace::{Shape, Trace, Tracer};

/// Local response normalisation across channels, PyTorch's convention:
/// `b = a / (k + alpha / size · Σ a²)^beta` over a window of `size` neighbouring channels.
///
/// The 2012 AlexNet paper writes `k + alpha · Σ a²` with n = 5, α = 1e-4, β = 0.75, k = 2;
/// in PyTorch's convention that α is `alpha = 5e-4` ([`LrnConfig::alexnet`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrnConfig {
    pub size: usize,
    pub alpha: f64,
    pub beta: f64,
    pub k: f64,
}

impl LrnConfig {
    /// Krizhevsky et al. 2012, §3.3 (also used by Zeiler & Fergus 2013).
    pub fn alexnet() -> Self {
        Self {
            size: 5,
            alpha: 5e-4,
            beta: 0.75,
            k: 2.0,
        }
    }

    pub fn init(&self) -> Lrn {
        Lrn {
            config: Self {
                size: self.size.max(1),
                ..*self
            },
        }
    }
}

/// Parameter-free; its forward is its own rather than Burn's `LocalResponseNorm` (an average
/// pool over `[N·H·W, 1, C]` and a general power): half-width AlexNet-CIFAR with LRN trained at
/// 84–95 images/s with Burn's against 100–139 this way, one thread on flex beside a running
/// suite (without LRN 197–343; `convlab bench --one`, the commit's message has the command).
#[derive(Module, Debug)]
pub struct Lrn {
    #[module(skip)]
    config: LrnConfig,
}

impl Lrn {
    /// `[N, C, H, W]` → same shape: `x / (k + alpha / size · Σ_window x²)^beta`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let LrnConfig {
            size,
            alpha,
            beta,
            k,
        } = self.config;
        let [_, c, _, _] = x.dims();
        // The window as a 1×1 convolution with a fixed band of ones (out channel o sums the
        // squares of channels o − (size−1)/2 … o + size/2 that exist): one matrix product over
        // the convolutions' own layout (channels last on flex), forward and backward.
        let (before, after) = ((size - 1) / 2, size / 2);
        let band: Vec<f32> = (0..c * c)
            .map(|i| {
                let (o, from) = (i / c, i % c);
                f32::from(u8::from(from + before >= o && from <= o + after))
            })
            .collect();
        let band = Tensor::<4>::from_data(TensorData::new(band, [c, c, 1, 1]), &x.device());
        let sum = convlab_kernels::conv2d(
            x.clone().square(),
            band,
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        );
        let base = sum.mul_scalar(alpha / size as f64).add_scalar(k);
        x / power(base, beta)
    }

    pub fn config(&self) -> LrnConfig {
        self.config
    }
}

/// `base^beta`. AlexNet's β = 0.75 as `√b · √√b` (and 0.5 as `√b`): a square root is one
/// vector instruction, while a general power is a scalar library call per element and was most
/// of the layer's time (forward and backward) on the CPU backends.
fn power(base: Tensor<4>, beta: f64) -> Tensor<4> {
    if beta == 0.75 {
        let root = base.sqrt();
        root.clone() * root.sqrt()
    } else if beta == 0.5 {
        base.sqrt()
    } else {
        base.powf_scalar(beta)
    }
}

impl Trace for Lrn {
    fn trace(&self, t: &mut Tracer, name: &str, input: Shape) -> Result<Shape, ShapeError> {
        let path = t.path(name);
        input.chw(&path)?;
        let c = self.config;
        let kind = format!("lrn n{} a{} b{} k{}", c.size, c.alpha, c.beta, c.k);
        t.row(path, kind, input, 0, 0);
        Ok(input)
    }
}
