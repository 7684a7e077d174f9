//! AlexNet in three layouts:
//! - `alexnet`: torchvision's (the "one weird trick" 64-192-384-256-256 variant, no LRN,
//!   adaptive average pool to 6×6, dropout before each hidden FC).
//! - `alexnet-2012`: Krizhevsky, Sutskever & Hinton 2012: 96-256-384-384-256, LRN after the
//!   first two conv+ReLU, overlapping 3×3/2 max pools, 227×227 input (the paper's "224" only
//!   works out with 227), optional two-group convolutions for the layers the paper split
//!   across its two GPUs (conv2, conv4, conv5).
//! - `alexnet-cifar`: the CIFAR-sized net of the PyTorch reference scripts (`peer/models.py`):
//!   3×3 convs 64-192-384-256-256 with three 2×2 pools, FC 1024-1024.

use burn::tensor::Device;
use convlab_blocks::{DropoutPosition, Op, ShapeError, build_stack};

use crate::arch::AlexNetLayout;
use crate::common::{FeatureNet, feature_net, stack_head, stack_options};
use crate::config::{Knobs, Stem};

const fn conv(out: usize, k: usize, s: usize, p: usize) -> Op {
    Op::Conv {
        out,
        k,
        s,
        p,
        split: false,
    }
}
const fn split(out: usize, k: usize, s: usize, p: usize) -> Op {
    Op::Conv {
        out,
        k,
        s,
        p,
        split: true,
    }
}
const POOL3: Op = Op::MaxPool {
    k: 3,
    s: 2,
    p: 0,
    ceil: false,
};
const POOL2: Op = Op::MaxPool {
    k: 2,
    s: 2,
    p: 0,
    ceil: false,
};

const TORCHVISION: [Op; 10] = [
    conv(64, 11, 4, 2),
    Op::Lrn,
    POOL3,
    conv(192, 5, 1, 2),
    Op::Lrn,
    POOL3,
    conv(384, 3, 1, 1),
    conv(256, 3, 1, 1),
    conv(256, 3, 1, 1),
    POOL3,
];

const PAPER_2012: [Op; 10] = [
    conv(96, 11, 4, 0),
    Op::Lrn,
    POOL3,
    split(256, 5, 1, 2),
    Op::Lrn,
    POOL3,
    conv(384, 3, 1, 1),
    split(384, 3, 1, 1),
    split(256, 3, 1, 1),
    POOL3,
];

const CIFAR: [Op; 10] = [
    conv(64, 3, 1, 1),
    Op::Lrn,
    POOL2,
    conv(192, 3, 1, 1),
    Op::Lrn,
    POOL2,
    conv(384, 3, 1, 1),
    conv(256, 3, 1, 1),
    conv(256, 3, 1, 1),
    POOL2,
];

pub(crate) fn build(
    layout: AlexNetLayout,
    knobs: &Knobs,
    device: &Device,
) -> Result<FeatureNet, ShapeError> {
    let (ops, pool, hidden): (&[Op], _, [usize; 2]) = match layout {
        AlexNetLayout::Torchvision => (&TORCHVISION, Some([6, 6]), [4096, 4096]),
        AlexNetLayout::Paper2012 => (&PAPER_2012, Some([6, 6]), [4096, 4096]),
        AlexNetLayout::Cifar => (&CIFAR, None, [1024, 1024]),
    };
    // Knobs of the ablation suites: the first layer, and overlapping vs non-overlapping pools
    // (3×3/2 — padded by 1 where the layout's own pools are 2×2, so map sizes agree — or 2×2/2).
    let ops: Vec<Op> = ops
        .iter()
        .enumerate()
        .map(|(i, &op)| match (op, i, knobs.stem, knobs.overlap_pool) {
            (Op::Conv { out, split, .. }, 0, Some(stem), _) => {
                let (k, s, p) = match stem {
                    Stem::Alexnet => (11, 4, 2),
                    Stem::Zfnet => (7, 2, 1),
                    Stem::Small => (3, 1, 1),
                };
                Op::Conv {
                    out,
                    k,
                    s,
                    p,
                    split,
                }
            }
            (Op::MaxPool { k, .. }, _, _, Some(overlap)) => match (overlap, k) {
                (true, 2) => Op::MaxPool {
                    k: 3,
                    s: 2,
                    p: 1,
                    ceil: false,
                },
                (false, 3) => POOL2,
                _ => op,
            },
            _ => op,
        })
        .collect();
    let features = build_stack(&ops, stack_options(knobs), device)?;
    let head = stack_head(knobs, pool, &hidden, DropoutPosition::BeforeHidden);
    feature_net(features, knobs.input, &head, device)
}
