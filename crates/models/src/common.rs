//! What the feature-stack families (LeNet, AlexNet, ZFNet, VGG) share: the module they build
//! and the helpers that turn knobs into a stack and a head. Families import this module; it
//! imports no family.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use convlab_blocks::{
    ClassifierHead, ClassifierHeadConfig, DropoutPosition, LrnConfig, Sequential, Shape,
    ShapeError, StackOptions, Trace, Tracer, scale_channels,
};

use crate::config::{HeadKind, Knobs};

/// A feature stack followed by a classifier head (LeNet, AlexNet, ZFNet, VGG).
#[derive(Module, Debug)]
pub struct FeatureNet {
    pub features: Sequential,
    pub head: ClassifierHead,
}

impl FeatureNet {
    /// `[N, C, H, W]` → logits `[N, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.features.forward(x))
    }
}

impl Trace for FeatureNet {
    fn trace(&self, t: &mut Tracer, name: &str, input: Shape) -> Result<Shape, ShapeError> {
        t.scope(name, |t| {
            let s = self.features.trace(t, "features", input)?;
            self.head.trace(t, "head", s)
        })
    }
}

/// Traces `features` at `input` and builds the head that fits their output.
pub(crate) fn feature_net(
    features: Sequential,
    input: [usize; 3],
    head: &ClassifierHeadConfig,
    device: &Device,
) -> Result<FeatureNet, ShapeError> {
    let [c, h, w] = input;
    let out = features.trace(&mut Tracer::new(), "features", Shape::Map(c, h, w))?;
    let head = head.init(out, device)?;
    Ok(FeatureNet { features, head })
}

/// The head a feature-stack family gets from the `head` knob: its own FC stack (`hidden`
/// widths before the width multiplier), or global average pooling and one linear layer.
pub(crate) fn stack_head(
    knobs: &Knobs,
    pool: Option<[usize; 2]>,
    hidden: &[usize],
    dropout_position: DropoutPosition,
) -> ClassifierHeadConfig {
    match knobs.head {
        HeadKind::Fc => ClassifierHeadConfig::fc(
            pool,
            hidden
                .iter()
                .map(|&h| scale_channels(h, knobs.width, 1))
                .collect(),
            knobs.classes,
        )
        .dropout(knobs.dropout, dropout_position),
        HeadKind::Gap => ClassifierHeadConfig::gap(knobs.classes)
            .dropout(knobs.dropout, DropoutPosition::BeforeOutput),
    }
    .activation(knobs.activation)
    .init_scheme(knobs.init)
}

/// Stack options shared by the feature-stack families.
pub(crate) fn stack_options(knobs: &Knobs) -> StackOptions {
    StackOptions {
        in_channels: knobs.input[0],
        width: knobs.width,
        batch_norm: knobs.batch_norm,
        activation: knobs.activation,
        lrn: knobs.lrn.then(LrnConfig::alexnet),
        groups: knobs.groups,
        init: knobs.init,
    }
}
