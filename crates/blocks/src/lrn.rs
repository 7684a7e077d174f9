use burn::module::Module;
use burn::tensor::Tensor;
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

/// Parameter-free. Its forward is `convlab_kernels::lrn`: on flex, fused kernels in the
/// activation's layout with their own backward, rather than Burn's `LocalResponseNorm` (an
/// average pool over `[N·H·W, 1, C]` and a general power, each a pass of its own in both
/// directions), which made half-width AlexNet-CIFAR with LRN train at a third of its speed
/// without (see the kernels crate's `lrn` module for the numbers).
#[derive(Module, Debug)]
pub struct Lrn {
    #[module(skip)]
    config: LrnConfig,
}

impl Lrn {
    /// `[N, C, H, W]` → same shape: `x / (k + alpha / size · Σ_window x²)^beta`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let c = self.config;
        convlab_kernels::lrn(x, c.size, c.alpha, c.beta, c.k)
    }

    pub fn config(&self) -> LrnConfig {
        self.config
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
