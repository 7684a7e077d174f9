//! ZFNet (Zeiler & Fergus 2013, "Visualizing and understanding convolutional networks",
//! Fig. 3): AlexNet with a 7×7 stride-2 first layer of 96 filters and a stride-2 second layer,
//! so the first layers keep more spatial detail. Feature maps 110 → 55 → 26 → 13 → 6 at
//! 224×224 input; the paper's sizes need ceil-mode pooling. Contrast normalisation is LRN
//! after each of the first two pools, as in the paper's figure.

use burn::tensor::Device;
use convlab_blocks::{DropoutPosition, Op, ShapeError, build_stack};

use crate::common::{FeatureNet, feature_net, stack_head, stack_options};
use crate::config::Knobs;

const fn conv(out: usize, k: usize, s: usize, p: usize) -> Op {
    Op::Conv {
        out,
        k,
        s,
        p,
        split: false,
    }
}
const POOL: Op = Op::MaxPool {
    k: 3,
    s: 2,
    p: 0,
    ceil: true,
};

const LAYERS: [Op; 10] = [
    conv(96, 7, 2, 1),
    POOL,
    Op::Lrn,
    conv(256, 5, 2, 0),
    POOL,
    Op::Lrn,
    conv(384, 3, 1, 1),
    conv(384, 3, 1, 1),
    conv(256, 3, 1, 1),
    POOL,
];

pub(crate) fn build(knobs: &Knobs, device: &Device) -> Result<FeatureNet, ShapeError> {
    let features = build_stack(&LAYERS, stack_options(knobs), device)?;
    let head = stack_head(
        knobs,
        Some([6, 6]),
        &[4096, 4096],
        DropoutPosition::BeforeHidden,
    );
    feature_net(features, knobs.input, &head, device)
}
