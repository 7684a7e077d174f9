//! Channels-last activations on flex: a tensor whose shape is `[N, C, H, W]` (what the model
//! code, checkpoints and every other op see) while its memory is `[N, H, W, C]` — a permuted
//! view, which flex's own ops read like any strided tensor. With oneDNN, convolutions run on
//! NHWC and write NHWC, and batch norm, ReLU and max pooling keep the layout they are given, so
//! a conv → batch norm → ReLU → pool chain never reorders its activations (PyTorch's
//! `channels_last`); before, every convolution reordered its input into oneDNN's blocked layout
//! and its output back to NCHW, in both passes.
//!
//! `CONVLAB_CHANNELS_LAST=0` turns it off (every activation NCHW, as before), for A/B
//! measurements; it is on by default wherever oneDNN is.

use std::borrow::Cow;
use std::sync::OnceLock;

use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;
use burn::tensor::DType;

use crate::host::{dims4, tensor, values};

/// How a 4-D activation's values lie in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Nchw,
    Nhwc,
}

/// Whether convolutions produce channels-last activations (oneDNN builds, unless
/// `CONVLAB_CHANNELS_LAST=0`).
pub fn channels_last() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        cfg!(convlab_dnnl) && std::env::var("CONVLAB_CHANNELS_LAST").map_or(true, |v| v != "0")
    })
}

/// Whether `t` (`[N, C, H, W]`, f32) is stored densely as `[N, H, W, C]` from offset 0.
/// Axes of size 1 may have any stride.
pub fn is_nhwc(t: &FlexTensor) -> bool {
    if t.dtype() != DType::F32 || t.shape().num_dims() != 4 {
        return false;
    }
    let [n, c, h, w] = dims4(t);
    let l = t.layout();
    if l.start_offset() != 0 || t.storage::<f32>().len() != n * c * h * w {
        return false;
    }
    let expected = [h * w * c, 1, w * c, c];
    l.strides()
        .iter()
        .zip(expected)
        .zip([n, c, h, w])
        .all(|((&s, e), d)| d == 1 || s == e as isize)
}

/// The memory order of a 4-D activation: NHWC when it is stored so (and not also plainly
/// contiguous, as a tensor with one channel or one pixel is), else NCHW.
pub fn layout_of(t: &FlexTensor) -> Layout {
    if !t.is_contiguous() && is_nhwc(t) {
        Layout::Nhwc
    } else {
        Layout::Nchw
    }
}

/// The values of a 4-D activation in its own memory order, and which order that is (see
/// [`layout_of`]; NCHW values are copied when not contiguous).
pub fn act_values(t: &FlexTensor) -> (Cow<'_, [f32]>, Layout) {
    let layout = layout_of(t);
    (values_in(t, layout), layout)
}

/// The values of `t` in `layout`'s order (a copy when it is stored otherwise).
pub fn values_in(t: &FlexTensor, layout: Layout) -> Cow<'_, [f32]> {
    match layout {
        Layout::Nchw => values(t),
        Layout::Nhwc if is_nhwc(t) => Cow::Borrowed(t.storage::<f32>()),
        Layout::Nhwc => {
            let c = t.permute(&[0, 2, 3, 1]).to_contiguous();
            Cow::Owned(c.as_slice::<f32>().map(<[f32]>::to_vec).unwrap_or_default())
        }
    }
}

/// A tensor of shape `[n, c, h, w]` from values in `layout`'s order.
pub fn act_tensor(v: Vec<f32>, [n, c, h, w]: [usize; 4], layout: Layout) -> FlexTensor {
    match layout {
        Layout::Nchw => tensor(v, [n, c, h, w]),
        Layout::Nhwc => tensor(v, [n, h, w, c]).permute(&[0, 3, 1, 2]),
    }
}
