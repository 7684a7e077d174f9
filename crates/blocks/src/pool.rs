//! Pooling layers with PyTorch's `kernel_size`, `stride`, `padding`, `ceil_mode`. A leaf
//! module: every block that pools imports it, it imports no block.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::tensor::Tensor;
use burn::tensor::ops::MaxPoolOptions;

use crate::error::ShapeError;
use crate::trace::{Shape, Trace, Tracer, window_out};

/// Max pooling (`nn.MaxPool2d`); runs through convlab-kernels.
#[derive(Module, Debug)]
pub struct MaxPool {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub ceil_mode: bool,
}

impl MaxPool {
    /// `[N, C, H, W]` → `[N, C, H', W']`, H' = ⌊(H + 2p − k) / s⌋ + 1 (⌈·⌉ in ceil mode, for
    /// windows that start inside the padded input).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let opts = MaxPoolOptions::new([self.kernel; 2])
            .with_stride([self.stride; 2])
            .with_padding([self.padding; 2])
            .with_ceil_mode(self.ceil_mode);
        convlab_kernels::max_pool2d(x, opts)
    }
}

/// `nn.MaxPool2d(kernel, stride, padding, ceil_mode=...)`.
pub fn max_pool(kernel: usize, stride: usize, padding: usize, ceil_mode: bool) -> MaxPool {
    MaxPool {
        kernel,
        stride,
        padding,
        ceil_mode,
    }
}

/// Average pooling (zero padding counted, as PyTorch's default).
pub fn avg_pool(kernel: usize, stride: usize, padding: usize, ceil_mode: bool) -> AvgPool2d {
    AvgPool2dConfig::new([kernel, kernel])
        .with_strides([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .with_ceil_mode(ceil_mode)
        .init()
}

/// One summary row for a pooling window: `maxpool 3x3/2 p0 ceil`.
fn trace_window(
    t: &mut Tracer,
    name: &str,
    input: Shape,
    op: &str,
    (kernel, stride, padding, ceil): (usize, usize, usize, bool),
) -> Result<Shape, ShapeError> {
    let path = t.path(name);
    let (c, h, w) = input.chw(&path)?;
    let mut kind = format!("{op} {kernel}x{kernel}/{stride} p{padding}");
    if ceil {
        kind.push_str(" ceil");
    }
    let (oh, ow) = window_out(
        &path,
        &kind,
        (h, w),
        (kernel, kernel),
        (padding, padding),
        stride,
        ceil,
    )?;
    let out = Shape::Map(c, oh, ow);
    t.row(path, kind, out, 0, 0);
    Ok(out)
}

impl Trace for MaxPool {
    fn trace(&self, t: &mut Tracer, name: &str, input: Shape) -> Result<Shape, ShapeError> {
        let p = (self.kernel, self.stride, self.padding, self.ceil_mode);
        trace_window(t, name, input, "maxpool", p)
    }
}

/// Burn's `AvgPool2d` (a foreign type, so a function rather than a `Trace` impl).
pub fn trace_avg_pool(
    m: &AvgPool2d,
    t: &mut Tracer,
    name: &str,
    input: Shape,
) -> Result<Shape, ShapeError> {
    let padding = match m.padding {
        PaddingConfig2d::Explicit(top, ..) => top,
        _ => 0,
    };
    let p = (m.kernel_size[0], m.stride[0], padding, m.ceil_mode);
    trace_window(t, name, input, "avgpool", p)
}
