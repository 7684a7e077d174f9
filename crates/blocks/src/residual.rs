//! Residual blocks of He et al. 2015 in torchvision's layout, with the paper's shortcut
//! options and a "plain" variant without shortcuts for the degradation ablation.

use burn::module::Module;
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Tensor, activation};
use serde::{Deserialize, Serialize};

use crate::conv::{Activation, ConvBnAct, ConvBnActConfig};
use crate::error::ShapeError;
use crate::init::InitScheme;
use crate::pool::{MaxPool, max_pool};
use crate::trace::{Shape, Trace, Tracer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockKind {
    /// Two 3×3 convolutions (ResNet-18/34 and the CIFAR nets); expansion 1.
    Basic,
    /// 1×1 reduce, 3×3 (carrying the stride, "ResNet v1.5" as torchvision), 1×1 expand ×4.
    Bottleneck,
}

impl BlockKind {
    pub fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

/// How a block's input reaches its output when the shapes differ (He et al. 2015, §4.1).
/// Where shapes agree the shortcut is the identity, except for [`Shortcut::None`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Shortcut {
    /// Option A: parameter-free; subsample by the stride and zero-pad the new channels.
    A,
    /// Option B: 1×1 convolution with the stride, plus batch norm.
    B,
    /// No shortcut at all: a "plain" network.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResidualBlockConfig {
    pub kind: BlockKind,
    pub in_channels: usize,
    /// Width of the block's inner convolutions; the output has `planes · expansion` channels.
    pub planes: usize,
    pub stride: usize,
    pub shortcut: Shortcut,
    pub init: InitScheme,
}

/// The shortcut path resolved for one block's shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortcutPath {
    None,
    Identity,
    ZeroPad {
        stride: usize,
        before: usize,
        after: usize,
    },
    Projection,
}

impl ResidualBlockConfig {
    pub fn out_channels(&self) -> usize {
        self.planes * self.kind.expansion()
    }

    pub fn init(&self, device: &Device) -> Result<ResidualBlock, ShapeError> {
        let out = self.out_channels();
        let conv = |i: usize, o: usize, k: usize, s: usize| {
            ConvBnActConfig::new(i, o, k)
                .stride(s)
                .bn_no_bias()
                .init_scheme(self.init)
        };
        let convs = match self.kind {
            BlockKind::Basic => vec![
                conv(self.in_channels, self.planes, 3, self.stride),
                conv(self.planes, self.planes, 3, 1).activation(Activation::Identity),
            ],
            BlockKind::Bottleneck => vec![
                conv(self.in_channels, self.planes, 1, 1),
                conv(self.planes, self.planes, 3, self.stride),
                conv(self.planes, out, 1, 1).activation(Activation::Identity),
            ],
        }
        .iter()
        .map(|c| c.init(device))
        .collect::<Result<Vec<_>, _>>()?;
        let reshapes = self.stride != 1 || self.in_channels != out;
        let path = match (self.shortcut, reshapes) {
            (Shortcut::None, _) => ShortcutPath::None,
            (_, false) => ShortcutPath::Identity,
            (Shortcut::A, true) => {
                if out < self.in_channels {
                    return Err(ShapeError::Invalid {
                        layer: "shortcut".into(),
                        message: format!(
                            "option A cannot reduce channels ({} -> {out}); use option B",
                            self.in_channels
                        ),
                    });
                }
                let extra = out - self.in_channels;
                ShortcutPath::ZeroPad {
                    stride: self.stride,
                    before: extra / 2,
                    after: extra - extra / 2,
                }
            }
            (Shortcut::B, true) => ShortcutPath::Projection,
        };
        let projection = match path {
            ShortcutPath::Projection => Some(
                conv(self.in_channels, out, 1, self.stride)
                    .activation(Activation::Identity)
                    .init(device)?,
            ),
            _ => None,
        };
        let subsample = match path {
            ShortcutPath::ZeroPad { stride, .. } if stride > 1 => {
                Some(max_pool(1, stride, 0, false))
            }
            _ => None,
        };
        Ok(ResidualBlock {
            convs,
            projection,
            subsample,
            path,
        })
    }
}

#[derive(Module, Debug)]
pub struct ResidualBlock {
    pub convs: Vec<ConvBnAct>,
    /// Option B's 1×1 convolution + batch norm (torchvision's `downsample`).
    pub projection: Option<ConvBnAct>,
    /// Option A's spatial subsampling (`x[:, :, ::s, ::s]` as a 1×1 pooling with stride s).
    pub subsample: Option<MaxPool>,
    #[module(skip)]
    pub path: ShortcutPath,
}

impl ResidualBlock {
    /// `[N, C_in, H, W]` → `[N, planes·expansion, ⌈H/s⌉, ⌈W/s⌉]`:
    /// relu(F(x) + shortcut(x)), or relu(F(x)) for a plain block.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let residual = self.convs.iter().fold(x.clone(), |h, c| c.forward(h));
        let shortcut = match self.path {
            ShortcutPath::None => return activation::relu(residual),
            ShortcutPath::Identity => x,
            ShortcutPath::Projection => match &self.projection {
                Some(p) => p.forward(x),
                None => x,
            },
            ShortcutPath::ZeroPad { before, after, .. } => {
                let x = match &self.subsample {
                    Some(s) => s.forward(x),
                    None => x,
                };
                x.pad([(before, after), (0, 0), (0, 0)], PadMode::Constant(0.0))
            }
        };
        convlab_kernels::add_relu(residual, shortcut)
    }
}

impl Trace for ResidualBlock {
    fn trace(&self, t: &mut Tracer, name: &str, input: Shape) -> Result<Shape, ShapeError> {
        t.scope(name, |t| {
            let out = t.scope("convs", |t| {
                self.convs
                    .iter()
                    .enumerate()
                    .try_fold(input, |s, (i, c)| c.trace(t, &i.to_string(), s))
            })?;
            match (self.path, &self.projection) {
                (ShortcutPath::Projection, Some(p)) => {
                    p.trace(t, "projection", input)?;
                }
                (
                    ShortcutPath::ZeroPad {
                        stride,
                        before,
                        after,
                    },
                    _,
                ) => {
                    let path = t.path("shortcut");
                    t.row(
                        path,
                        format!("option A: subsample /{stride}, zero-pad +{before}+{after} ch"),
                        out,
                        0,
                        0,
                    );
                }
                (ShortcutPath::Identity, _) => {
                    let path = t.path("shortcut");
                    t.row(path, "identity".into(), out, 0, 0);
                }
                _ => {}
            }
            Ok(out)
        })
    }
}
