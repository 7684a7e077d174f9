//! The built model: one module type for every architecture, built from the registry row's
//! spec by the family's file.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use convlab_blocks::{ClassifierHeadConfig, Shape, ShapeError, Trace, Tracer};

use crate::arch::{Arch, Spec};
use crate::common::FeatureNet;
use crate::config::{Knobs, ModelConfig};
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

/// The network's body cut after `k` feature layers or residual stages, with a new global
/// average pooling head.
fn cut(net: Network, k: usize, knobs: &Knobs, device: &Device) -> Result<Network, String> {
    let [c, h, w] = knobs.input;
    let input = Shape::Map(c, h, w);
    let gap = ClassifierHeadConfig::gap(knobs.classes).init_scheme(knobs.init);
    match net {
        Network::Features(mut f) => {
            let n = f.features.layers.len();
            if k == 0 || k > n {
                return Err(format!(
                    "must be between 1 and the {n} feature layers, got {k}"
                ));
            }
            f.features.layers.truncate(k);
            let out = f
                .features
                .trace(&mut Tracer::new(), "features", input)
                .map_err(|e| e.to_string())?;
            f.head = gap.init(out, device).map_err(|e| e.to_string())?;
            Ok(Network::Features(f))
        }
        Network::ResNet(mut r) => {
            let n = r.stages.len();
            if k == 0 || k > n {
                return Err(format!(
                    "must be between 1 and the {n} residual stages, got {k}"
                ));
            }
            r.stages.truncate(k);
            let mut t = Tracer::new();
            let mut s = r
                .stem
                .trace(&mut t, "stem", input)
                .map_err(|e| e.to_string())?;
            for (i, stage) in r.stages.iter().enumerate() {
                for (j, b) in stage.iter().enumerate() {
                    s = b
                        .trace(&mut t, &format!("stages.{i}.{j}"), s)
                        .map_err(|e| e.to_string())?;
                }
            }
            r.head = gap.init(s, device).map_err(|e| e.to_string())?;
            Ok(Network::ResNet(r))
        }
        Network::GoogLeNet(_) => {
            Err("does not apply to GoogLeNet (its inception stages have no single cut)".into())
        }
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
    /// The body was cut after this many feature layers or stages (`ModelConfig::cut`).
    #[module(skip)]
    pub cut: Option<usize>,
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
        let net = match config.cut {
            Some(k) => cut(net, k, &knobs, device).map_err(|message| ModelError::Knob {
                arch: arch.name().to_string(),
                knob: "cut",
                message,
            })?,
            None => net,
        };
        let model = Model {
            net,
            arch,
            input: knobs.input,
            classes: knobs.classes,
            cut: config.cut,
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
