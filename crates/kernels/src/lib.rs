//! The layer operations convlab's blocks call: 2-D convolution, batch norm (optionally fused
//! with ReLU), max pooling, ReLU and local response normalisation. Each one takes tensors on
//! any backend; on flex it runs a kernel of this crate (plugged in through Burn's backend
//! extensions, with its own backward pass), elsewhere it is Burn's own op (LRN: tensor ops).
//! On flex with oneDNN, activations are channels-last in memory (see [`layout`]). The numbers
//! are the same either way: tests compare every kernel with Burn's ops on a table of shapes,
//! forward and every gradient, and with PyTorch.

mod conv;
pub mod cpu;
#[cfg(convlab_dnnl)]
mod dnnl;
mod flex;
mod host;
pub mod layout;
pub mod lrn;
mod ops;

pub use ops::{
    BatchNormEval, BatchNormTrain, add_relu, batch_norm_eval, batch_norm_train, conv_engine,
    conv2d, conv2d_bn_eval, enabled, lrn, max_pool2d, relu,
};

/// Whether this build calls oneDNN for convolutions on flex.
pub fn onednn_available() -> bool {
    cfg!(convlab_dnnl)
}
