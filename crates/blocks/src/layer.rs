//! Feed-forward feature stacks built from a family's layer table.

use burn::module::Module;
use burn::nn::pool::AvgPool2d;
use burn::tensor::Tensor;

use crate::conv::ConvBnAct;
use crate::error::ShapeError;
use crate::inception::Inception;
use crate::lrn::Lrn;
use crate::pool::{MaxPool, avg_pool, max_pool, trace_avg_pool};
use crate::trace::{Shape, Trace, Tracer};

/// One stage of a feed-forward feature extractor.
// Inception is larger than the other variants; layers are built once and never moved in a hot
// loop, and Burn's Module derive does not see through a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Layer {
    Conv(ConvBnAct),
    MaxPool(MaxPool),
    AvgPool(AvgPool2d),
    Lrn(Lrn),
    Inception(Inception),
}

impl Layer {
    /// `[N, C, H, W]` → `[N, C', H', W']`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Layer::Conv(m) => m.forward(x),
            Layer::MaxPool(m) => m.forward(x),
            Layer::AvgPool(m) => m.forward(x),
            Layer::Lrn(m) => m.forward(x),
            Layer::Inception(m) => m.forward(x),
        }
    }
}

impl Trace for Layer {
    fn trace(&self, t: &mut Tracer, name: &str, input: Shape) -> Result<Shape, ShapeError> {
        match self {
            Layer::Conv(m) => m.trace(t, name, input),
            Layer::Lrn(m) => m.trace(t, name, input),
            Layer::Inception(m) => m.trace(t, name, input),
            Layer::MaxPool(m) => m.trace(t, name, input),
            Layer::AvgPool(m) => trace_avg_pool(m, t, name, input),
        }
    }
}

/// A chain of [`Layer`]s, named by index like `nn.Sequential`.
#[derive(Module, Debug)]
pub struct Sequential {
    pub layers: Vec<Layer>,
}

impl Sequential {
    pub fn new(layers: Vec<Layer>) -> Self {
        Self { layers }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.layers.iter().fold(x, |x, layer| layer.forward(x))
    }
}

impl Trace for Sequential {
    fn trace(&self, t: &mut Tracer, name: &str, input: Shape) -> Result<Shape, ShapeError> {
        t.scope(name, |t| {
            self.layers
                .iter()
                .enumerate()
                .try_fold(input, |shape, (i, layer)| {
                    layer.trace(t, &i.to_string(), shape)
                })
        })
    }
}

/// One entry of a family's layer table (the `cfgs` lists of torchvision's `vgg.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Convolution to `out` channels, `k`×`k`, stride `s`, padding `p`; `split` marks the
    /// layers the 2012 AlexNet ran as two groups (one per GPU).
    Conv {
        out: usize,
        k: usize,
        s: usize,
        p: usize,
        split: bool,
    },
    MaxPool {
        k: usize,
        s: usize,
        p: usize,
        ceil: bool,
    },
    AvgPool {
        k: usize,
        s: usize,
    },
    /// Local response normalisation, present only when the model's LRN knob is on.
    Lrn,
}

/// How [`build_stack`] turns [`Op`]s into layers.
#[derive(Debug, Clone, Copy)]
pub struct StackOptions {
    pub in_channels: usize,
    pub width: f64,
    pub batch_norm: bool,
    pub activation: crate::conv::Activation,
    pub lrn: Option<crate::lrn::LrnConfig>,
    /// Groups used for `split` convolutions.
    pub groups: usize,
    pub init: crate::init::InitScheme,
}

/// Builds a feed-forward feature extractor from a layer table.
pub fn build_stack(
    ops: &[Op],
    opts: StackOptions,
    device: &burn::tensor::Device,
) -> Result<Sequential, ShapeError> {
    let mut channels = opts.in_channels;
    let mut layers = Vec::with_capacity(ops.len());
    for op in ops {
        match *op {
            Op::Conv {
                out,
                k,
                s,
                p,
                split,
            } => {
                let groups = if split { opts.groups } else { 1 };
                let out = crate::width::scale_channels(out, opts.width, groups);
                let conv = crate::conv::ConvBnActConfig::new(channels, out, k)
                    .stride(s)
                    .padding(crate::conv::Padding::Explicit(p))
                    .groups(groups)
                    .batch_norm(opts.batch_norm)
                    .activation(opts.activation)
                    .init_scheme(opts.init)
                    .init(device)?;
                layers.push(Layer::Conv(conv));
                channels = out;
            }
            Op::MaxPool { k, s, p, ceil } => layers.push(Layer::MaxPool(max_pool(k, s, p, ceil))),
            Op::AvgPool { k, s } => layers.push(Layer::AvgPool(avg_pool(k, s, 0, false))),
            Op::Lrn => {
                if let Some(lrn) = opts.lrn {
                    layers.push(Layer::Lrn(lrn.init()));
                }
            }
        }
    }
    Ok(Sequential::new(layers))
}
