//! Residual networks (He, Zhang, Ren & Sun 2015, "Deep residual learning for image
//! recognition").
//! - ImageNet nets in torchvision's layout: 7×7/2 stem + 3×3/2 max pool, four stages of
//!   BasicBlocks (18, 34) or Bottlenecks (50, 101, 152) with the stride on the bottleneck's
//!   3×3 ("v1.5"), projection shortcuts (option B) where shapes change, GAP, FC.
//! - CIFAR nets of §4.2: 3×3 stem of 16, three stages of n BasicBlocks with 16/32/64 channels
//!   (6n + 2 layers), GAP, FC; shortcut option A by default. `plain*` drop the shortcuts.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use convlab_blocks::{
    BlockKind, ClassifierHead, ClassifierHeadConfig, ConvBnActConfig, Layer, ResidualBlock,
    ResidualBlockConfig, Sequential, Shape, ShapeError, Trace, Tracer, max_pool, scale_channels,
};

use crate::arch::ResNetBlock;
use crate::config::Knobs;

#[derive(Module, Debug)]
pub struct ResNet {
    pub stem: Sequential,
    pub stages: Vec<Vec<ResidualBlock>>,
    pub head: ClassifierHead,
}

impl ResNet {
    /// `[N, C, H, W]` → logits `[N, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.stem.forward(x);
        let x = self
            .stages
            .iter()
            .flatten()
            .fold(x, |x, block| block.forward(x));
        self.head.forward(x)
    }
}

impl Trace for ResNet {
    fn trace(&self, t: &mut Tracer, name: &str, input: Shape) -> Result<Shape, ShapeError> {
        t.scope(name, |t| {
            let mut s = self.stem.trace(t, "stem", input)?;
            for (i, stage) in self.stages.iter().enumerate() {
                s = t.scope(&format!("stages.{i}"), |t| {
                    stage
                        .iter()
                        .enumerate()
                        .try_fold(s, |s, (j, b)| b.trace(t, &j.to_string(), s))
                })?;
            }
            self.head.trace(t, "head", s)
        })
    }
}

/// `make_layer`: one stage of `blocks` blocks, the first carrying the stride.
fn make_stage(
    kind: BlockKind,
    in_channels: &mut usize,
    planes: usize,
    blocks: usize,
    stride: usize,
    knobs: &Knobs,
    device: &Device,
) -> Result<Vec<ResidualBlock>, ShapeError> {
    (0..blocks)
        .map(|i| {
            let cfg = ResidualBlockConfig {
                kind,
                in_channels: *in_channels,
                planes,
                stride: if i == 0 { stride } else { 1 },
                shortcut: knobs.shortcut,
                init: knobs.init,
            };
            *in_channels = cfg.out_channels();
            cfg.init(device)
        })
        .collect()
}

/// torchvision's ImageNet ResNet: 7×7/2 stem of 64 and a 3×3/2 max pool, four stages of
/// `layers[i]` blocks at widths 64-128-256-512, GAP, FC.
pub(crate) fn build_imagenet(
    block: ResNetBlock,
    layers: [usize; 4],
    knobs: &Knobs,
    device: &Device,
) -> Result<ResNet, ShapeError> {
    let w = |c: usize| scale_channels(c, knobs.width, 1);
    let conv = ConvBnActConfig::new(knobs.input[0], w(64), 7)
        .stride(2)
        .bn_no_bias()
        .init_scheme(knobs.init)
        .init(device)?;
    let stem = Sequential::new(vec![
        Layer::Conv(conv),
        Layer::MaxPool(max_pool(3, 2, 1, false)),
    ]);
    let kind = match block {
        ResNetBlock::Basic => BlockKind::Basic,
        ResNetBlock::Bottleneck => BlockKind::Bottleneck,
    };
    let plan = [64, 128, 256, 512]
        .iter()
        .zip(layers)
        .enumerate()
        .map(|(i, (&planes, n))| (w(planes), n, if i == 0 { 1 } else { 2 }))
        .collect();
    assemble(stem, kind, plan, knobs, device)
}

/// He et al.'s CIFAR net (§4.2): 3×3 stem of 16, three stages of `n` basic blocks at
/// 16-32-64 channels (6n + 2 layers), GAP, FC. The shortcut knob decides A, B or none.
pub(crate) fn build_cifar(n: usize, knobs: &Knobs, device: &Device) -> Result<ResNet, ShapeError> {
    let w = |c: usize| scale_channels(c, knobs.width, 1);
    let conv = ConvBnActConfig::new(knobs.input[0], w(16), 3)
        .bn_no_bias()
        .init_scheme(knobs.init)
        .init(device)?;
    let stem = Sequential::new(vec![Layer::Conv(conv)]);
    let plan = vec![(w(16), n, 1), (w(32), n, 2), (w(64), n, 2)];
    assemble(stem, BlockKind::Basic, plan, knobs, device)
}

/// Stages of `(planes, blocks, stride)` after `stem`, then the GAP head.
fn assemble(
    stem: Sequential,
    kind: BlockKind,
    plan: Vec<(usize, usize, usize)>,
    knobs: &Knobs,
    device: &Device,
) -> Result<ResNet, ShapeError> {
    let mut channels = stem_channels(&stem);
    let stages = plan
        .into_iter()
        .map(|(planes, n, stride)| {
            make_stage(kind, &mut channels, planes, n, stride, knobs, device)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let head = ClassifierHeadConfig::gap(knobs.classes)
        .init_scheme(knobs.init)
        .init(Shape::Map(channels, 1, 1), device)?;
    Ok(ResNet { stem, stages, head })
}

fn stem_channels(stem: &Sequential) -> usize {
    stem.layers
        .iter()
        .rev()
        .find_map(|l| match l {
            Layer::Conv(c) => Some(c.out_channels()),
            _ => None,
        })
        .unwrap_or(0)
}
