//! 2-D convolution on flex tensors: oneDNN when convlab-kernels is built with it (the
//! `onednn` feature and Debian's `libdnnl-dev`), else flex's own forward and Burn's generic
//! backward passes.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::tensor::ops::ConvOptions;

use crate::host::{dims4, tensor};

/// `y = conv(x, w) + b`.
pub fn forward(
    x: &FlexTensor,
    w: &FlexTensor,
    b: Option<&FlexTensor>,
    o: &ConvOptions<2>,
) -> FlexTensor {
    #[cfg(convlab_dnnl)]
    if let Some(y) = crate::dnnl::forward(x, w, b, o, false) {
        return y;
    }
    Flex::conv2d(x.clone(), w.clone(), b.cloned(), o.clone())
}

/// `y = max(conv(x, w) + b, 0)` in one oneDNN call (ReLU as its post-op); `None` without
/// oneDNN, or where it failed: the caller rectifies [`forward`]'s output instead.
pub fn forward_relu(
    x: &FlexTensor,
    w: &FlexTensor,
    b: Option<&FlexTensor>,
    o: &ConvOptions<2>,
) -> Option<FlexTensor> {
    #[cfg(convlab_dnnl)]
    return crate::dnnl::forward(x, w, b, o, true);
    #[cfg(not(convlab_dnnl))]
    {
        let _ = (x, w, b, o);
        None
    }
}

/// ∂L/∂x for upstream gradient `g`.
pub fn backward_data(
    x: &FlexTensor,
    w: &FlexTensor,
    g: &FlexTensor,
    o: &ConvOptions<2>,
) -> FlexTensor {
    #[cfg(convlab_dnnl)]
    if let Some(dx) = crate::dnnl::backward_data(x, w, g, o) {
        return dx;
    }
    Flex::conv2d_x_backward(x.clone(), w.clone(), g.clone(), o.clone())
}

/// ∂L/∂w for upstream gradient `g`.
pub fn backward_weights(
    x: &FlexTensor,
    w: &FlexTensor,
    g: &FlexTensor,
    o: &ConvOptions<2>,
) -> FlexTensor {
    #[cfg(convlab_dnnl)]
    if let Some(dw) = crate::dnnl::backward_weights(x, w, g, o) {
        return dw;
    }
    Flex::conv2d_weight_backward(x.clone(), w.clone(), g.clone(), o.clone())
}

/// ∂L/∂b: the upstream gradient summed over batch and space, per output channel.
pub fn backward_bias(g: &FlexTensor) -> FlexTensor {
    let [n, c, h, w] = dims4(g);
    let (v, layout) = crate::layout::act_values(g);
    let hw = h * w;
    let mut out = vec![0f64; c];
    match layout {
        crate::layout::Layout::Nchw => {
            for s in 0..n {
                for (k, o) in out.iter_mut().enumerate() {
                    let at = (s * c + k) * hw;
                    *o += v[at..at + hw].iter().map(|&x| x as f64).sum::<f64>();
                }
            }
        }
        crate::layout::Layout::Nhwc => {
            for row in v.chunks_exact(c.max(1)) {
                out.iter_mut().zip(row).for_each(|(o, &x)| *o += x as f64);
            }
        }
    }
    tensor(out.into_iter().map(|x| x as f32).collect(), [c])
}
