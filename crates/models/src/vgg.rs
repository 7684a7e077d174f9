//! VGG (Simonyan & Zisserman 2014, "Very deep convolutional networks for large-scale image
//! recognition"), configurations A, B, D and E of Table 1 in torchvision's layout: 3×3 convs
//! with padding 1 (bias kept in the batch-norm twins, as torchvision), 2×2 max pools, adaptive
//! average pool to 7×7, FC 4096-4096 with dropout after each hidden ReLU.
//!
//! The `-cifar` variants keep the conv stack (32×32 → 1×1×512 after five pools) and use a
//! 512-512 classifier with dropout before each hidden layer (the common CIFAR VGG head).

use burn::tensor::Device;
use convlab_blocks::{DropoutPosition, Op, ShapeError, build_stack};

use crate::arch::VggConfig;
use crate::common::{FeatureNet, feature_net, stack_head, stack_options};
use crate::config::Knobs;

/// A table entry: conv to this many channels, or `M` for a max pool.
const M: usize = 0;

const A: &[usize] = &[64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M];
const B: &[usize] = &[
    64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M,
];
const D: &[usize] = &[
    64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M,
];
const E: &[usize] = &[
    64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M,
];

fn table(config: VggConfig) -> &'static [usize] {
    match config {
        VggConfig::A => A,
        VggConfig::B => B,
        VggConfig::D => D,
        VggConfig::E => E,
    }
}

/// `cifar`: the 32×32 variant with the 512-512 classifier. Batch norm is a knob (the `-bn`
/// rows default it on).
pub(crate) fn build(
    config: VggConfig,
    cifar: bool,
    knobs: &Knobs,
    device: &Device,
) -> Result<FeatureNet, ShapeError> {
    let ops: Vec<Op> = table(config)
        .iter()
        .map(|&v| match v {
            M => Op::MaxPool {
                k: 2,
                s: 2,
                p: 0,
                ceil: false,
            },
            out => Op::Conv {
                out,
                k: 3,
                s: 1,
                p: 1,
                split: false,
            },
        })
        .collect();
    let features = build_stack(&ops, stack_options(knobs), device)?;
    let head = if cifar {
        stack_head(knobs, None, &[512, 512], DropoutPosition::BeforeHidden)
    } else {
        stack_head(
            knobs,
            Some([7, 7]),
            &[4096, 4096],
            DropoutPosition::AfterHidden,
        )
    };
    feature_net(features, knobs.input, &head, device)
}
