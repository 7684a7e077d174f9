//! Looking inside a built model: the feature maps its head reads (class activation maps), the
//! head itself, and the outputs of its ReLU layers (the dead-unit diagnostic).

use burn::tensor::Tensor;
use convlab_blocks::{Activation, ClassifierHead, Layer, Sequential};

use crate::network::{Model, Network};

/// One ReLU-bearing layer's output on a batch: `[N, units, H, W]` (a hidden linear layer's
/// `[N, F]` output is `[N, F, 1, 1]`).
pub struct ReluOutput {
    /// The layer's path as the model summary names it (`features.0`, `stages.1.2`,
    /// `head.linears.0`).
    pub layer: String,
    pub output: Tensor<4>,
}

/// Whether a feature layer's output has just passed a ReLU: a convolution with a ReLU after it
/// (batch norm fused or not), and an inception block (every branch ends in one).
fn ends_in_relu(layer: &Layer) -> bool {
    match layer {
        Layer::Conv(c) => c.activation == Activation::Relu,
        Layer::Inception(_) => true,
        Layer::MaxPool(_) | Layer::AvgPool(_) | Layer::Lrn(_) => false,
    }
}

fn sequential(seq: &Sequential, name: &str, x: Tensor<4>, out: &mut Vec<ReluOutput>) -> Tensor<4> {
    seq.layers.iter().enumerate().fold(x, |x, (i, layer)| {
        let y = layer.forward(x);
        if ends_in_relu(layer) {
            out.push(ReluOutput {
                layer: format!("{name}.{i}"),
                output: y.clone(),
            });
        }
        y
    })
}

/// The head's forward pass, recording its hidden layers' outputs when they are ReLUs.
fn head(head: &ClassifierHead, x: Tensor<4>, out: &mut Vec<ReluOutput>) -> Tensor<2> {
    let relu = head.activation == Activation::Relu;
    head.forward_tapped(x, &mut |i, h| {
        if relu {
            let [b, f] = h.dims();
            out.push(ReluOutput {
                layer: format!("head.linears.{i}"),
                output: h.clone().reshape([b, f, 1, 1]),
            });
        }
    })
}

impl Model {
    /// The feature maps `[N, C, H, W]` the classifier head reads (the last ones of the body).
    pub fn features(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.net {
            Network::Features(m) => m.features.forward(x),
            Network::GoogLeNet(m) => m.body.forward(m.stem.forward(x)),
            Network::ResNet(m) => m
                .stages
                .iter()
                .flatten()
                .fold(m.stem.forward(x), |x, block| block.forward(x)),
        }
    }

    /// The classifier head: `head().forward(features(x))` is `forward(x)`.
    pub fn head(&self) -> &ClassifierHead {
        match &self.net {
            Network::Features(m) => &m.head,
            Network::GoogLeNet(m) => &m.head,
            Network::ResNet(m) => &m.head,
        }
    }

    /// The head's linear weight `[classes, C]` when the head is global average pooling and one
    /// linear layer (the class activation map's condition), else `None`.
    pub fn gap_weight(&self) -> Option<Tensor<2>> {
        let head = self.head();
        let gap = head.pool_size == Some([1, 1]) && head.linears.len() == 1;
        // Burn stores a linear weight as [in, out].
        gap.then(|| head.linears[0].weight.val().transpose())
    }

    /// The logits and the output of every ReLU-bearing layer on `x`, in forward order (no
    /// auxiliary heads).
    pub fn relu_outputs(&self, x: Tensor<4>) -> (Tensor<2>, Vec<ReluOutput>) {
        let mut out = vec![];
        let logits = match &self.net {
            Network::Features(m) => {
                let f = sequential(&m.features, "features", x, &mut out);
                head(&m.head, f, &mut out)
            }
            Network::GoogLeNet(m) => {
                let s = sequential(&m.stem, "stem", x, &mut out);
                let f = sequential(&m.body, "body", s, &mut out);
                head(&m.head, f, &mut out)
            }
            Network::ResNet(m) => {
                let mut x = sequential(&m.stem, "stem", x, &mut out);
                for (i, stage) in m.stages.iter().enumerate() {
                    for (j, block) in stage.iter().enumerate() {
                        // Every residual block (plain or not) ends in a ReLU.
                        x = block.forward(x);
                        out.push(ReluOutput {
                            layer: format!("stages.{i}.{j}"),
                            output: x.clone(),
                        });
                    }
                }
                head(&m.head, x, &mut out)
            }
        };
        (logits, out)
    }
}
