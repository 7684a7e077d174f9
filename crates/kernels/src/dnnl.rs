//! oneDNN's 2-D convolution (forward, backward-data, backward-weights) through the C shim in
//! `csrc/dnnl_shim.cpp`: the library PyTorch's own CPU convolutions run on. Every call checks
//! its shapes in the shim; an error falls back to Burn's kernels after saying why, once.
#![allow(unsafe_code)] // FFI: the one place in convlab that calls C.

use std::ffi::{CStr, c_char, c_int};
use std::sync::Once;

use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;
use burn::tensor::ops::ConvOptions;

use std::borrow::Cow;

use crate::host::{dims4, tensor, values};
use crate::layout::{Layout, act_tensor, channels_last, is_nhwc};

/// `ConvlabConvParams` of `dnnl_shim.h`: 19 × i64 in this order.
#[repr(C)]
struct Params {
    n: i64,
    ic: i64,
    ih: i64,
    iw: i64,
    oc: i64,
    oh: i64,
    ow: i64,
    kh: i64,
    kw: i64,
    stride_h: i64,
    stride_w: i64,
    pad_top: i64,
    pad_left: i64,
    pad_bottom: i64,
    pad_right: i64,
    dil_h: i64,
    dil_w: i64,
    groups: i64,
    /// `X_NHWC | Y_NHWC | RUN_NHWC` bits.
    layout: i64,
}

/// `CONVLAB_DNNL_*_NHWC` of `dnnl_shim.h`.
const X_NHWC: i64 = 1;
const Y_NHWC: i64 = 2;
const RUN_NHWC: i64 = 4;

/// How one call lays out its activations: the convolution runs on NHWC when activations are
/// channels-last, except grouped ones (oneDNN 2.6 has no fast NHWC kernel for them: they run
/// blocked and reorder); every activation it writes is channels-last then. (Blocked kernels on
/// small maps — VGG's 4×4 and 2×2 layers — were faster in `csrc/bench_shim` alone, but not
/// measurably in VGG-16-BN's training step: 81–107 against 97–109 images/s, three runs each.)
#[derive(Clone, Copy)]
struct Plan {
    out: Layout,
    run_nhwc: bool,
}

fn plan(o: &ConvOptions<2>) -> Plan {
    let cl = channels_last();
    Plan {
        out: if cl { Layout::Nhwc } else { Layout::Nchw },
        run_nhwc: cl && o.groups == 1,
    }
}

/// The values oneDNN reads for an activation: its NHWC storage when activations are
/// channels-last and it is stored so, else NCHW; and whether they are NHWC.
fn operand(t: &FlexTensor, plan: Plan) -> (Cow<'_, [f32]>, bool) {
    if plan.out == Layout::Nhwc && is_nhwc(t) {
        (Cow::Borrowed(t.storage::<f32>()), true)
    } else {
        (values(t), false)
    }
}

unsafe extern "C" {
    fn convlab_dnnl_conv2d_fwd(
        p: *const Params,
        x: *const f32,
        w: *const f32,
        b: *const f32,
        y: *mut f32,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn convlab_dnnl_conv2d_fwd_relu(
        p: *const Params,
        x: *const f32,
        w: *const f32,
        b: *const f32,
        y: *mut f32,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn convlab_dnnl_conv2d_bwd_data(
        p: *const Params,
        dy: *const f32,
        w: *const f32,
        dx: *mut f32,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn convlab_dnnl_conv2d_bwd_weights(
        p: *const Params,
        x: *const f32,
        dy: *const f32,
        dw: *mut f32,
        db: *mut f32,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn convlab_dnnl_version() -> *const c_char;
}

/// oneDNN's version and CPU runtime, e.g. `oneDNN 2.6.3 (cpu runtime: OpenMP)`.
pub fn version() -> String {
    // SAFETY: the shim returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(convlab_dnnl_version()) }
        .to_string_lossy()
        .into_owned()
}

fn params(x: [usize; 4], w: [usize; 4], y: [usize; 4], o: &ConvOptions<2>, layout: i64) -> Params {
    let i = |v: usize| v as i64;
    Params {
        n: i(x[0]),
        ic: i(x[1]),
        ih: i(x[2]),
        iw: i(x[3]),
        oc: i(w[0]),
        oh: i(y[2]),
        ow: i(y[3]),
        kh: i(w[2]),
        kw: i(w[3]),
        stride_h: i(o.stride[0]),
        stride_w: i(o.stride[1]),
        pad_top: i(o.padding[0].0),
        pad_left: i(o.padding[1].0),
        pad_bottom: i(o.padding[0].1),
        pad_right: i(o.padding[1].1),
        dil_h: i(o.dilation[0]),
        dil_w: i(o.dilation[1]),
        groups: i(o.groups),
        layout,
    }
}

/// PyTorch's output size of one axis.
fn out_dim(size: usize, k: usize, (before, after): (usize, usize), s: usize, d: usize) -> usize {
    (size + before + after).saturating_sub(d * (k - 1) + 1) / s + 1
}

fn out_shape(x: [usize; 4], w: [usize; 4], o: &ConvOptions<2>) -> [usize; 4] {
    [
        x[0],
        w[0],
        out_dim(x[2], w[2], o.padding[0], o.stride[0], o.dilation[0]),
        out_dim(x[3], w[3], o.padding[1], o.stride[1], o.dilation[1]),
    ]
}

/// Runs a shim call; on failure says why (once) and returns `None` so the caller falls back.
fn call(what: &str, f: impl FnOnce(*mut c_char, usize) -> c_int) -> Option<()> {
    let mut err = [0 as c_char; 512];
    let status = f(err.as_mut_ptr(), err.len());
    if status == 0 {
        return Some(());
    }
    static WARNED: Once = Once::new();
    WARNED.call_once(|| {
        // SAFETY: the shim NUL-terminates the message within the buffer.
        let message = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy();
        eprintln!("warning: oneDNN {what} failed ({message}); using Burn's convolution instead");
    });
    None
}

/// `conv(x, w) + b`, then ReLU when `relu` (oneDNN's post-op: in the same pass).
pub fn forward(
    x: &FlexTensor,
    w: &FlexTensor,
    b: Option<&FlexTensor>,
    o: &ConvOptions<2>,
    relu: bool,
) -> Option<FlexTensor> {
    let (xd, wd) = (dims4(x), dims4(w));
    let yd = out_shape(xd, wd, o);
    let plan = plan(o);
    let ((xv, x_nhwc), wv) = (operand(x, plan), values(w));
    let layout = bit(x_nhwc, X_NHWC) | out_bits(plan, Y_NHWC);
    let p = params(xd, wd, yd, o, layout);
    let bv = b.map(values);
    let mut y = vec![0f32; yd.iter().product()];
    call("convolution", |err, len| {
        // SAFETY: every buffer holds the elements its shape in `p` says (checked by the shim
        // against the output formula); `y` is exclusively borrowed and fully written.
        unsafe {
            let f = if relu {
                convlab_dnnl_conv2d_fwd_relu
            } else {
                convlab_dnnl_conv2d_fwd
            };
            f(
                &p,
                xv.as_ptr(),
                wv.as_ptr(),
                bv.as_ref().map_or(std::ptr::null(), |b| b.as_ptr()),
                y.as_mut_ptr(),
                err,
                len,
            )
        }
    })?;
    Some(act_tensor(y, yd, plan.out))
}

fn bit(on: bool, b: i64) -> i64 {
    if on { b } else { 0 }
}

/// The bits of the tensor a call writes (`out`: X_NHWC or Y_NHWC) and of where it runs.
fn out_bits(plan: Plan, out: i64) -> i64 {
    bit(plan.out == Layout::Nhwc, out) | bit(plan.run_nhwc, RUN_NHWC)
}

pub fn backward_data(
    x: &FlexTensor,
    w: &FlexTensor,
    g: &FlexTensor,
    o: &ConvOptions<2>,
) -> Option<FlexTensor> {
    let (xd, wd, gd) = (dims4(x), dims4(w), dims4(g));
    let plan = plan(o);
    let ((gv, g_nhwc), wv) = (operand(g, plan), values(w));
    let p = params(xd, wd, gd, o, bit(g_nhwc, Y_NHWC) | out_bits(plan, X_NHWC));
    let mut dx = vec![0f32; xd.iter().product()];
    call("convolution backward (data)", |err, len| {
        // SAFETY: as in `forward`; `dx` has the input's element count.
        unsafe {
            convlab_dnnl_conv2d_bwd_data(&p, gv.as_ptr(), wv.as_ptr(), dx.as_mut_ptr(), err, len)
        }
    })?;
    Some(act_tensor(dx, xd, plan.out))
}

pub fn backward_weights(
    x: &FlexTensor,
    w: &FlexTensor,
    g: &FlexTensor,
    o: &ConvOptions<2>,
) -> Option<FlexTensor> {
    let (xd, wd, gd) = (dims4(x), dims4(w), dims4(g));
    let plan = plan(o);
    let ((xv, x_nhwc), (gv, g_nhwc)) = (operand(x, plan), operand(g, plan));
    let layout = bit(x_nhwc, X_NHWC) | bit(g_nhwc, Y_NHWC) | bit(plan.run_nhwc, RUN_NHWC);
    let p = params(xd, wd, gd, o, layout);
    let mut dw = vec![0f32; wd.iter().product()];
    call("convolution backward (weights)", |err, len| {
        // SAFETY: as in `forward`; `dw` has the weight's element count, no bias gradient.
        unsafe {
            convlab_dnnl_conv2d_bwd_weights(
                &p,
                xv.as_ptr(),
                gv.as_ptr(),
                dw.as_mut_ptr(),
                std::ptr::null_mut(),
                err,
                len,
            )
        }
    })?;
    Some(tensor(dw, w.shape()))
}
