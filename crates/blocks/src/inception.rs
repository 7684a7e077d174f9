//! GoogLeNet's Inception module and auxiliary classifier (Szegedy et al. 2014) in
//! torchvision's layout: every convolution is conv (no bias) + batch norm (ε = 1e-3) + ReLU.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::conv::{ConvBnAct, ConvBnActConfig};
use crate::error::ShapeError;
use crate::head::{ClassifierHead, ClassifierHeadConfig, DropoutPosition};
use crate::init::InitScheme;
use crate::pool::{MaxPool, max_pool};
use crate::trace::{Shape, Trace, Tracer};

/// torchvision's `BasicConv2d`: batch norm with ε = 0.001.
pub fn basic_conv(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    init: InitScheme,
) -> ConvBnActConfig {
    ConvBnActConfig::new(in_channels, out_channels, kernel)
        .bn_no_bias()
        .bn_epsilon(1e-3)
        .init_scheme(init)
}

/// Channel counts of one Inception module, in the paper's Table 1 column order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InceptionConfig {
    pub in_channels: usize,
    pub ch1x1: usize,
    pub ch3x3_reduce: usize,
    pub ch3x3: usize,
    pub ch5x5_reduce: usize,
    pub ch5x5: usize,
    pub pool_proj: usize,
    /// Kernel of the "5×5" branch. torchvision uses 3 (a known deviation it keeps for its
    /// pretrained weights, and the one its parameter counts reflect); the paper uses 5.
    pub branch3_kernel: usize,
    pub init: InitScheme,
}

impl InceptionConfig {
    pub fn out_channels(&self) -> usize {
        self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj
    }

    pub fn init(&self, device: &Device) -> Result<Inception, ShapeError> {
        let c = |i, o, k| basic_conv(i, o, k, self.init).init(device);
        Ok(Inception {
            branch1: c(self.in_channels, self.ch1x1, 1)?,
            branch2: vec![
                c(self.in_channels, self.ch3x3_reduce, 1)?,
                c(self.ch3x3_reduce, self.ch3x3, 3)?,
            ],
            branch3: vec![
                c(self.in_channels, self.ch5x5_reduce, 1)?,
                c(self.ch5x5_reduce, self.ch5x5, self.branch3_kernel)?,
            ],
            pool: max_pool(3, 1, 1, true),
            branch4: c(self.in_channels, self.pool_proj, 1)?,
        })
    }
}

#[derive(Module, Debug)]
pub struct Inception {
    pub branch1: ConvBnAct,
    pub branch2: Vec<ConvBnAct>,
    pub branch3: Vec<ConvBnAct>,
    pub pool: MaxPool,
    pub branch4: ConvBnAct,
}

impl Inception {
    /// `[N, C, H, W]` → `[N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let b1 = self.branch1.forward(x.clone());
        let b2 = self.branch2.iter().fold(x.clone(), |h, c| c.forward(h));
        let b3 = self.branch3.iter().fold(x.clone(), |h, c| c.forward(h));
        let b4 = self.branch4.forward(self.pool.forward(x));
        Tensor::cat(vec![b1, b2, b3, b4], 1)
    }
}

impl Trace for Inception {
    fn trace(&self, t: &mut Tracer, name: &str, input: Shape) -> Result<Shape, ShapeError> {
        t.scope(name, |t| {
            let chain = |t: &mut Tracer, n: &str, convs: &[ConvBnAct]| {
                t.scope(n, |t| {
                    convs
                        .iter()
                        .enumerate()
                        .try_fold(input, |s, (i, c)| c.trace(t, &i.to_string(), s))
                })
            };
            let b1 = self.branch1.trace(t, "branch1", input)?;
            let b2 = chain(t, "branch2", &self.branch2)?;
            let b3 = chain(t, "branch3", &self.branch3)?;
            let pooled = self.pool.trace(t, "pool", input)?;
            let b4 = self.branch4.trace(t, "branch4", pooled)?;
            let mut channels = 0;
            let mut hw = None;
            for (branch, s) in [
                ("branch1", b1),
                ("branch2", b2),
                ("branch3", b3),
                ("branch4", b4),
            ] {
                let (c, h, w) = s.chw(branch)?;
                if hw.is_some_and(|prev| prev != (h, w)) {
                    return Err(ShapeError::Invalid {
                        layer: t.path(branch),
                        message: format!("branch output {h}x{w} differs from the others"),
                    });
                }
                hw = Some((h, w));
                channels += c;
            }
            let (h, w) = hw.unwrap_or((0, 0));
            let out = Shape::Map(channels, h, w);
            let path = t.path("concat");
            t.row(path, "concat".into(), out, 0, 0);
            Ok(out)
        })
    }
}

/// Auxiliary classifier attached to Inception 4a and 4d during training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InceptionAuxConfig {
    pub in_channels: usize,
    pub classes: usize,
    /// Width of the 1×1 convolution (128) and hidden layer (1024) scale with the model.
    pub conv_channels: usize,
    pub hidden: usize,
    pub dropout: f64,
    pub init: InitScheme,
}

impl InceptionAuxConfig {
    pub fn init(&self, device: &Device) -> Result<InceptionAux, ShapeError> {
        let conv = basic_conv(self.in_channels, self.conv_channels, 1, self.init).init(device)?;
        // torchvision: adaptive avg pool 4×4, 1×1 conv, flatten, relu(fc1), dropout 0.7, fc2.
        let head = ClassifierHeadConfig::fc(None, vec![self.hidden], self.classes)
            .dropout(self.dropout, DropoutPosition::AfterHidden)
            .init_scheme(self.init)
            .init(Shape::Map(self.conv_channels, 4, 4), device)?;
        Ok(InceptionAux {
            pool: burn::nn::pool::AdaptiveAvgPool2dConfig::new([4, 4]).init(),
            conv,
            head,
        })
    }
}

#[derive(Module, Debug)]
pub struct InceptionAux {
    pub pool: burn::nn::pool::AdaptiveAvgPool2d,
    pub conv: ConvBnAct,
    pub head: ClassifierHead,
}

impl InceptionAux {
    /// `[N, C, H, W]` → logits `[N, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.conv.forward(self.pool.forward(x)))
    }
}

impl Trace for InceptionAux {
    fn trace(&self, t: &mut Tracer, name: &str, input: Shape) -> Result<Shape, ShapeError> {
        t.scope(name, |t| {
            let path = t.path("pool");
            let (c, ..) = input.chw(&path)?;
            let pooled = Shape::Map(c, 4, 4);
            t.row(path, "adaptive avgpool 4x4".into(), pooled, 0, 0);
            let s = self.conv.trace(t, "conv", pooled)?;
            self.head.trace(t, "head", s)
        })
    }
}
