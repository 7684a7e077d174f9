//! The built model: one module type for every architecture.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use convlab_blocks::{ClassifierHead, Sequential, Shape, ShapeError, Trace, Tracer};

use crate::arch::{Arch, Family};
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::googlenet::GoogLeNet;
use crate::resnet::ResNet;
use crate::summary::Summary;
use crate::{alexnet, googlenet, lenet, resnet, vgg, zfnet};

/// A feature stack followed by a classifier head (LeNet, AlexNet, ZFNet, VGG).
#[derive(Module, Debug)]
pub struct FeatureNet {
    pub features: Sequential,
    pub head: ClassifierHead,
}

impl FeatureNet {
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

#[derive(Module, Debug)]
pub enum Network {
    Features(FeatureNet),
    GoogLeNet(GoogLeNet),
    ResNet(ResNet),
}

impl Trace for Network {
    fn trace(&self, t: &mut Tracer, name: &str, input: Shape) -> Result<Shape, ShapeError> {
        match self {
            Network::Features(m) => m.trace(t, name, input),
            Network::GoogLeNet(m) => m.trace(t, name, input),
            Network::ResNet(m) => m.trace(t, name, input),
        }
    }
}

/// A classifier built from a [`ModelConfig`].
#[derive(Module, Debug)]
pub struct Model {
    pub net: Network,
    #[module(skip)]
    pub arch: Arch,
    /// The `[C, H, W]` input the model was built for.
    #[module(skip)]
    pub input: [usize; 3],
    #[module(skip)]
    pub classes: usize,
}

impl Model {
    pub fn new(config: &ModelConfig, device: &Device) -> Result<Self, ModelError> {
        let knobs = config.resolve()?;
        let arch = config.arch;
        let shape_err = |source: ShapeError| ModelError::Shape {
            arch: arch.name().to_string(),
            input: format!("{}x{}x{}", knobs.input[0], knobs.input[1], knobs.input[2]),
            source: Box::new(source),
        };
        let net = match arch.family() {
            Family::LeNet => Network::Features(lenet::build(&knobs, device).map_err(shape_err)?),
            Family::AlexNet => {
                Network::Features(alexnet::build(arch, &knobs, device).map_err(shape_err)?)
            }
            Family::ZfNet => Network::Features(zfnet::build(&knobs, device).map_err(shape_err)?),
            Family::Vgg => Network::Features(vgg::build(arch, &knobs, device).map_err(shape_err)?),
            Family::GoogLeNet => {
                Network::GoogLeNet(googlenet::build(arch, &knobs, device).map_err(shape_err)?)
            }
            Family::ResNet => {
                Network::ResNet(resnet::build(arch, &knobs, device).map_err(shape_err)?)
            }
        };
        let model = Model {
            net,
            arch,
            input: knobs.input,
            classes: knobs.classes,
        };
        // Trace once so that an input the architecture cannot take fails here, by name.
        model.summary_at(knobs.input)?;
        Ok(model)
    }

    /// `[N, C, H, W]` → logits `[N, classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match &self.net {
            Network::Features(m) => m.forward(x),
            Network::GoogLeNet(m) => m.forward(x),
            Network::ResNet(m) => m.forward(x),
        }
    }

    /// Main logits and, for GoogLeNet with auxiliary heads, the auxiliary logits (training).
    pub fn forward_with_aux(&self, x: Tensor<4>) -> (Tensor<2>, Vec<Tensor<2>>) {
        match &self.net {
            Network::GoogLeNet(m) => m.forward_with_aux(x),
            _ => (self.forward(x), vec![]),
        }
    }

    /// Per-layer table at the model's own input.
    pub fn summary(&self) -> Summary {
        // The input was validated when the model was built.
        self.summary_at(self.input)
            .unwrap_or_else(|_| Summary::empty(self.arch, self.input))
    }

    /// Per-layer table for an input of `[C, H, W]`, or the layer that cannot take it.
    pub fn summary_at(&self, input: [usize; 3]) -> Result<Summary, ModelError> {
        let mut t = Tracer::new();
        let [c, h, w] = input;
        let output = self
            .net
            .trace(&mut t, "", Shape::Map(c, h, w))
            .map_err(|source| ModelError::Shape {
                arch: self.arch.name().to_string(),
                input: format!("{c}x{h}x{w}"),
                source: Box::new(source),
            })?;
        Ok(Summary::new(self.arch, input, output, t.rows))
    }

    /// Checks a batch's `[N, C, H, W]` against what the model was built for.
    pub fn check_input(&self, dims: [usize; 4]) -> Result<(), ModelError> {
        let [_, c, h, w] = dims;
        self.summary_at([c, h, w]).map(|_| ())
    }
}

/// Traces `features` at `input` and builds the head that fits their output.
pub(crate) fn feature_net(
    features: Sequential,
    input: [usize; 3],
    head: &convlab_blocks::ClassifierHeadConfig,
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
    knobs: &crate::config::Knobs,
    pool: Option<[usize; 2]>,
    hidden: &[usize],
    dropout_position: convlab_blocks::DropoutPosition,
) -> convlab_blocks::ClassifierHeadConfig {
    use convlab_blocks::{ClassifierHeadConfig, DropoutPosition};
    match knobs.head {
        crate::config::HeadKind::Fc => ClassifierHeadConfig::fc(
            pool,
            hidden
                .iter()
                .map(|&h| convlab_blocks::scale_channels(h, knobs.width, 1))
                .collect(),
            knobs.classes,
        )
        .dropout(knobs.dropout, dropout_position),
        crate::config::HeadKind::Gap => ClassifierHeadConfig::gap(knobs.classes)
            .dropout(knobs.dropout, DropoutPosition::BeforeOutput),
    }
    .activation(knobs.activation)
    .init_scheme(knobs.init)
}

/// Stack options shared by the feature-stack families.
pub(crate) fn stack_options(knobs: &crate::config::Knobs) -> convlab_blocks::StackOptions {
    convlab_blocks::StackOptions {
        in_channels: knobs.input[0],
        width: knobs.width,
        batch_norm: knobs.batch_norm,
        activation: knobs.activation,
        lrn: knobs.lrn.then(convlab_blocks::LrnConfig::alexnet),
        groups: knobs.groups,
        init: knobs.init,
    }
}
