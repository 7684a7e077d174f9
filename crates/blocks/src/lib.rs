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
pub mod residual;
pub mod trace;

pub use conv::{Activation, ConvBnAct, ConvBnActConfig, Padding};
pub use error::ShapeError;
pub use head::{ClassifierHead, ClassifierHeadConfig, DropoutPosition};
pub use inception::{Inception, InceptionAux, InceptionAuxConfig, InceptionConfig};
pub use init::InitScheme;
pub use layer::{Layer, Op, Sequential, StackOptions, avg_pool, build_stack, max_pool};
pub use lrn::{Lrn, LrnConfig};
pub use residual::{BlockKind, ResidualBlock, ResidualBlockConfig, Shortcut};
pub use trace::{LayerRow, Shape, Trace, Tracer, count_params, is_buffer};

/// Scales a channel count by a width multiplier, keeping it at least `multiple_of` and a
/// multiple of it (grouped convolutions need channels divisible by the group count).
pub fn scale_channels(channels: usize, width: f64, multiple_of: usize) -> usize {
    let m = multiple_of.max(1);
    let scaled = (channels as f64 * width / m as f64).round() as usize * m;
    scaled.max(m)
}
