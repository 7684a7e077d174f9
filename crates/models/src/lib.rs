//! convlab's model families: LeNet, AlexNet, ZFNet, VGG, GoogLeNet and ResNet, each one file
//! with its layer tables and one builder, behind the closed [`Arch`] registry.
//!
//! ```no_run
//! use convlab_models::{Arch, ModelConfig};
//! let device = burn::tensor::Device::flex();
//! let model = ModelConfig::new(Arch::ResNet20).init(&device).unwrap();
//! println!("{}", model.summary().render());
//! ```

pub mod alexnet;
pub mod arch;
pub mod common;
pub mod config;
pub mod error;
pub mod googlenet;
pub mod lenet;
pub mod network;
pub mod onnx;
pub mod probe;
pub mod resnet;
pub mod summary;
pub mod torchvision;
pub mod vgg;
pub mod zfnet;

pub use arch::{AlexNetLayout, Arch, Family, ResNetBlock, Spec, VggConfig};
pub use common::FeatureNet;
pub use config::{HeadKind, Init, Knob, Knobs, ModelConfig, PoolKind, Stem, parse_input};
pub use error::ModelError;
pub use network::{Model, Network};
pub use probe::ReluOutput;
pub use summary::Summary;

/// Summary rows of an architecture at `input` (its default when `None`) and `classes`,
/// computed without allocating any weights (Burn parameters are lazy).
pub fn summarize(
    arch: Arch,
    input: Option<[usize; 3]>,
    classes: Option<usize>,
) -> Result<Summary, ModelError> {
    let mut cfg = ModelConfig::new(arch);
    cfg.input = input;
    cfg.classes = classes;
    let model = cfg.init(&burn::tensor::Device::flex())?;
    Ok(model.summary())
}
