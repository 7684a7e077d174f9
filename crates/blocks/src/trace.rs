//! Symbolic shape tracing of built modules: output shapes, parameters and MACs per layer.

use std::fmt;

use serde::Serialize;

use crate::error::ShapeError;

/// The shape of one example flowing through a network (batch dimension left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Shape {
    /// Feature map `C×H×W`.
    Map(usize, usize, usize),
    /// Flat feature vector.
    Vector(usize),
}

impl Shape {
    pub fn chw(&self, layer: &str) -> Result<(usize, usize, usize), ShapeError> {
        match *self {
            Shape::Map(c, h, w) => Ok((c, h, w)),
            Shape::Vector(n) => Err(ShapeError::Invalid {
                layer: layer.to_string(),
                message: format!("expects a C×H×W feature map, got a flat vector of {n}"),
            }),
        }
    }

    /// Number of values per example.
    pub fn numel(&self) -> usize {
        match *self {
            Shape::Map(c, h, w) => c * h * w,
            Shape::Vector(n) => n,
        }
    }

    /// The shape with the batch dimension in front, as a tensor would report it.
    pub fn with_batch(&self, n: usize) -> Vec<usize> {
        match *self {
            Shape::Map(c, h, w) => vec![n, c, h, w],
            Shape::Vector(f) => vec![n, f],
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Map(c, h, w) => write!(f, "{c}x{h}x{w}"),
            Shape::Vector(n) => write!(f, "{n}"),
        }
    }
}

/// One line of a model summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerRow {
    /// Dotted module path, e.g. `layer2.0.conv1`.
    pub path: String,
    /// Human description, e.g. `conv 3x3/1 p1 64->64 +bn +relu`.
    pub kind: String,
    pub output: Shape,
    pub params: u64,
    /// Multiply-accumulates per example (convolutions and linear layers).
    pub macs: u64,
}

/// Collects [`LayerRow`]s while a model is traced.
#[derive(Debug, Default)]
pub struct Tracer {
    prefix: Vec<String>,
    pub rows: Vec<LayerRow>,
}

impl Tracer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Full dotted path of a child called `name` in the current scope.
    pub fn path(&self, name: &str) -> String {
        let mut parts: Vec<&str> = self.prefix.iter().map(String::as_str).collect();
        if !name.is_empty() {
            parts.push(name);
        }
        parts.join(".")
    }

    /// Runs `f` with `name` pushed on the path.
    pub fn scope<R>(&mut self, name: &str, f: impl FnOnce(&mut Tracer) -> R) -> R {
        let pushed = !name.is_empty();
        if pushed {
            self.prefix.push(name.to_string());
        }
        let r = f(self);
        if pushed {
            self.prefix.pop();
        }
        r
    }

    pub fn row(&mut self, path: String, kind: String, output: Shape, params: u64, macs: u64) {
        self.rows.push(LayerRow {
            path,
            kind,
            output,
            params,
            macs,
        });
    }

    pub fn total_params(&self) -> u64 {
        self.rows.iter().map(|r| r.params).sum()
    }

    pub fn total_macs(&self) -> u64 {
        self.rows.iter().map(|r| r.macs).sum()
    }
}

/// A module whose output shape, parameters and MACs can be derived without running it.
pub trait Trace {
    /// Records rows for this module under `name` in the tracer's current scope and returns
    /// the output shape, or says which layer cannot take `input`.
    fn trace(&self, t: &mut Tracer, name: &str, input: Shape) -> Result<Shape, ShapeError>;
}

/// Output size of a sliding window (convolution or pooling) with explicit padding, as PyTorch
/// computes it: floor((in + 2p − k) / s) + 1, or with `ceil` the ceiling, dropping a last
/// window that would start in the right padding.
pub fn window_out(
    layer: &str,
    kind: &str,
    (h, w): (usize, usize),
    (kh, kw): (usize, usize),
    (ph, pw): (usize, usize),
    stride: usize,
    ceil: bool,
) -> Result<(usize, usize), ShapeError> {
    if h + 2 * ph < kh || w + 2 * pw < kw {
        return Err(ShapeError::InputTooSmall {
            layer: layer.to_string(),
            kind: kind.to_string(),
            input_h: h,
            input_w: w,
            kernel_h: kh,
            kernel_w: kw,
            pad_h: ph,
            pad_w: pw,
            need_h: kh.saturating_sub(2 * ph).max(1),
            need_w: kw.saturating_sub(2 * pw).max(1),
        });
    }
    let one = |i: usize, k: usize, p: usize| {
        let span = i + 2 * p - k;
        if ceil {
            let mut o = span.div_ceil(stride) + 1;
            if (o - 1) * stride >= i + p {
                o -= 1;
            }
            o
        } else {
            span / stride + 1
        }
    };
    Ok((one(h, kh, ph), one(w, kw, pw)))
}

/// The seed notes' output-size formulas for unpadded ("valid") and "same" convolutions.
pub mod conv_out {
    /// ceil((in − k + 1) / s); `None` when the kernel does not fit.
    pub fn valid(input: usize, kernel: usize, stride: usize) -> Option<usize> {
        (input + 1)
            .checked_sub(kernel)
            .filter(|&v| v > 0)
            .map(|v| v.div_ceil(stride))
    }
    /// ceil(in / s).
    pub fn same(input: usize, stride: usize) -> usize {
        input.div_ceil(stride)
    }
    /// floor((in + 2p − k) / s) + 1; `None` when the kernel does not fit.
    pub fn explicit(input: usize, kernel: usize, pad: usize, stride: usize) -> Option<usize> {
        (input + 2 * pad)
            .checked_sub(kernel)
            .map(|v| v / stride + 1)
    }
}

/// Learnable parameters of a module, as PyTorch's `sum(p.numel() for p in m.parameters())`
/// counts them: batch norm's running statistics are buffers, not parameters (Burn's
/// `num_params` counts them too). Does not initialise lazy parameters.
pub fn count_params<M: burn::module::Module>(module: &M) -> u64 {
    let mut counter = ParamCounter::default();
    module.visit(&mut counter);
    counter.total
}

/// Whether a module path names a batch-norm running statistic.
pub fn is_buffer(path: &[String]) -> bool {
    matches!(
        path.last().map(String::as_str),
        Some("running_mean" | "running_var")
    )
}

#[derive(Default)]
struct ParamCounter {
    path: Vec<String>,
    total: u64,
}

impl burn::module::ModuleVisitor for ParamCounter {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(
        &mut self,
        param: &burn::module::Param<burn::tensor::Tensor<D>>,
    ) {
        if !is_buffer(&self.path) {
            self.total += param.lazy_shape().num_elements() as u64;
        }
    }
}
