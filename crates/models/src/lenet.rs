//! LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to
//! document recognition"): C1 conv5×5 6 → S2 → C3 conv5×5 16 → S4 → F5 120 → F6 84 → output.
//!
//! Deviations from the paper, all knobs: ReLU and max pooling by default (`activation = tanh`,
//! `pool = avg` give the original's squashing and average sub-sampling, without its trainable
//! sub-sampling coefficients); C3 is fully connected to S2 rather than the paper's sparse
//! connection table; the RBF output layer is a linear layer.

use burn::tensor::Device;
use convlab_blocks::{DropoutPosition, Op, ShapeError, build_stack};

use crate::common::{FeatureNet, feature_net, stack_head, stack_options};
use crate::config::{Knobs, PoolKind};

const HIDDEN: [usize; 2] = [120, 84];

pub(crate) fn build(knobs: &Knobs, device: &Device) -> Result<FeatureNet, ShapeError> {
    let [_, h, w] = knobs.input;
    // The paper's 32×32 input is MNIST's 28×28 digit with a 2-pixel border: pad 28×28 input.
    let pad = if h.min(w) <= 28 { 2 } else { 0 };
    let pool = match knobs.pool {
        PoolKind::Max => Op::MaxPool {
            k: 2,
            s: 2,
            p: 0,
            ceil: false,
        },
        PoolKind::Avg => Op::AvgPool { k: 2, s: 2 },
    };
    let ops = [
        Op::Conv {
            out: 6,
            k: 5,
            s: 1,
            p: pad,
            split: false,
        },
        pool,
        Op::Conv {
            out: 16,
            k: 5,
            s: 1,
            p: 0,
            split: false,
        },
        pool,
    ];
    let features = build_stack(&ops, stack_options(knobs), device)?;
    let head = stack_head(knobs, None, &HIDDEN, DropoutPosition::AfterHidden);
    feature_net(features, knobs.input, &head, device)
}
