//! The built model: one module type for every architecture, built from the registry row's
//! spec by the family's file.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use convlab_blocks::{Shape, ShapeError, Trace, Tracer};

use crate::arch::{Arch, Spec};
use crate::common::FeatureNet;
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::googlenet::GoogLeNet;
use crate::resnet::ResNet;
use crate::summary::Summary;
use crate::{alexnet, googlenet, lenet, resnet, vgg, zfnet};

impl ModelConfig {
    /// Builds the model on `device` (use `device.autodiff()` to train it).
    pub fn init(&self, device: &Device) -> Result<Model, ModelError> {
        Model::new(self, device)
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
        let net = match arch.spec() {
            Spec::LeNet => Network::Features(lenet::build(&knobs, device).map_err(shape_err)?),
            Spec::AlexNet(layout) => {
                Network::Features(alexnet::build(layout, &knobs, device).map_err(shape_err)?)
            }
            Spec::ZfNet => Network::Features(zfnet::build(&knobs, device).map_err(shape_err)?),
            Spec::Vgg { config, cifar, .. } => {
                Network::Features(vgg::build(config, cifar, &knobs, device).map_err(shape_err)?)
            }
            Spec::GoogLeNet { cifar } => {
                Network::GoogLeNet(googlenet::build(cifar, &knobs, device).map_err(shape_err)?)
            }
            Spec::ResNet { block, layers } => Network::ResNet(
                resnet::build_imagenet(block, layers, &knobs, device).map_err(shape_err)?,
            ),
            Spec::CifarResNet { n, .. } => {
                Network::ResNet(resnet::build_cifar(n, &knobs, device).map_err(shape_err)?)
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
