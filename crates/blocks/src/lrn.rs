use burn::module::Module;
use burn::nn::{LocalResponseNorm, LocalResponseNormConfig};
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
        let inner = LocalResponseNormConfig::new(self.size.max(1))
            .with_alpha(self.alpha)
            .with_beta(self.beta)
            .with_k(self.k)
            .init();
        Lrn {
            inner,
            config: *self,
        }
    }
}

#[derive(Module, Debug)]
pub struct Lrn {
    inner: LocalResponseNorm,
    #[module(skip)]
    config: LrnConfig,
}

impl Lrn {
    /// `[N, C, H, W]` → same shape.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.inner.forward(x)
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
