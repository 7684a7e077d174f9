//! Reusable CNN building blocks for convlab's model families.
//!
//! Every block follows "config builds, module runs": a serialisable config with a fallible
//! `init(&device)` and a `#[derive(Module)]` struct whose `forward` documents its shapes.
//! Every block also implements [`Trace`], which walks the *built* module with symbolic shapes:
//! this gives the per-layer summary (output shape, parameters, MACs) and turns impossible shapes
//! into a [`ShapeError`] that names the layer before any tensor is computed.

pub mod conv;
pub mod error;
pub mod head;
pub mod inception;
pub mod init;
pub mod layer;
pub mod lrn;
pub mod norm;
pub mod pool;
pub mod residual;
pub mod trace;
pub mod width;

pub use conv::{Activation, ConvBnAct, ConvBnActConfig, Padding};
pub use error::ShapeError;
pub use head::{ClassifierHead, ClassifierHeadConfig, DropoutPosition};
pub use inception::{Inception, InceptionAux, InceptionAuxConfig, InceptionConfig};
pub use init::{BiasInit, InitScheme, WeightInit};
pub use layer::{Layer, Op, Sequential, StackOptions, build_stack};
pub use lrn::{Lrn, LrnConfig};
pub use norm::BatchNorm2d;
pub use pool::{MaxPool, avg_pool, max_pool};
pub use residual::{BlockKind, ResidualBlock, ResidualBlockConfig, Shortcut};
pub use trace::{LayerRow, Shape, Trace, Tracer, count_params, is_buffer};

pub use width::scale_channels;
