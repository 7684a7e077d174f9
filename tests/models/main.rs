//! Model-crate tests: exact parameter counts, output-shape formulas, forward/backward of every
//! architecture, flex/ndarray agreement, and errors for impossible knobs.

#[path = "../support/python.rs"]
mod python;
pub use python::pypi_python;
mod errors;
mod forward;
mod onnx;
mod params;
#[cfg(feature = "ndarray")]
mod parity;
mod probe;
mod shapes;
mod summary;
mod torchvision;

use burn::tensor::Device;

/// Width multiplier that keeps a forward + backward pass of `arch` at its default input fast.
pub fn test_width(arch: convlab_models::Arch) -> f64 {
    if arch == convlab_models::Arch::LeNet5 {
        1.0
    } else if arch.is_small_input() {
        0.25
    } else {
        1.0 / 16.0
    }
}

pub fn flex() -> Device {
    Device::flex()
}
