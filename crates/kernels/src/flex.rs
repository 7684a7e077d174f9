//! The kernels plugged into flex through Burn's backend extensions: an extension trait
//! implemented for `Flex` (forward kernels) and for `Autodiff<Flex>` (the same forward, with
//! hand-written backward passes registered on the autodiff graph). Other backends never reach
//! this module (see `ops.rs`).

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};

use crate::conv;
use crate::cpu::{self, Nchw, Pool};
use crate::host::{dims4, tensor, values};
use crate::layout::{Layout, act_tensor, act_values, layout_of, values_in};
use crate::lrn::{self, LrnConst, LrnSaved};

#[backend_extension(Flex, Autodiff)]
pub trait KernelOps: Backend {
    /// `F.conv2d` without bias.
    fn cl_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;
    /// `F.conv2d` with bias.
    fn cl_conv2d_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;
    /// Training-mode batch norm (+ ReLU): output, batch mean, biased batch variance.
    fn cl_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
    /// Max pooling (PyTorch's padding and ceil mode).
    fn cl_max_pool2d(x: FloatTensor<Self>, options: MaxPoolOptions<2>) -> FloatTensor<Self>;
    /// `relu(x)` of a 4-D activation, keeping its layout.
    fn cl_relu(x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `relu(a + b)` in one pass (a residual block's output), in `a`'s or `b`'s channels-last
    /// layout when either has it.
    fn cl_add_relu(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Local response normalisation across channels (PyTorch's convention), in `x`'s layout.
    fn cl_lrn(x: FloatTensor<Self>, p: LrnConst) -> FloatTensor<Self>;
    /// `relu(conv(x, weight) + bias)` in one pass: the inference path of conv → batch norm
    /// (folded into `weight` and `bias`) → ReLU. Not differentiable (plain devices only).
    fn cl_conv2d_bias_relu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;
    /// `y = x·scale[c] + shift[c]` (+ ReLU) in one pass: evaluation-mode batch norm folded
    /// into a per-channel affine map. Not differentiable (plain devices only).
    fn cl_scale_shift(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self>;
}

fn nchw(t: &FlexTensor) -> Nchw {
    let [n, c, h, w] = dims4(t);
    Nchw { n, c, h, w }
}

fn pool_of(o: &MaxPoolOptions<2>) -> Pool {
    Pool {
        kernel: o.kernel_size,
        stride: o.stride,
        padding: [o.padding[0].0, o.padding[1].0],
        ceil_mode: o.ceil_mode,
    }
}

/// Forward batch norm on flex, returning the saved quantities for the backward pass too; the
/// output (`f.y`) is in the input's layout.
fn bn_forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    eps: f64,
    relu: bool,
) -> (cpu::BnForward, Nchw, Layout) {
    let s = nchw(x);
    let (xv, layout) = act_values(x);
    let (g, b) = (values(gamma), values(beta));
    let f = match layout {
        Layout::Nchw => cpu::bn_train_forward(&xv, s, &g, &b, eps, relu),
        Layout::Nhwc => cpu::bn_train_forward_nhwc(&xv, s, &g, &b, eps, relu),
    };
    (f, s, layout)
}

/// Max pooling on flex in the input's layout: output, argmax, output size, layout.
fn pool_forward(x: &FlexTensor, p: Pool) -> (FlexTensor, Vec<u32>, Nchw, usize, Layout) {
    let s = nchw(x);
    let (xv, layout) = act_values(x);
    let (y, idx, oh, ow) = match layout {
        Layout::Nchw => cpu::max_pool_forward(&xv, s, p),
        Layout::Nhwc => cpu::max_pool_forward_nhwc(&xv, s, p),
    };
    (
        act_tensor(y, [s.n, s.c, oh, ow], layout),
        idx,
        s,
        oh * ow,
        layout,
    )
}

/// `relu(a + b)` on flex, in NHWC when either operand is stored so.
fn add_relu_forward(a: &FlexTensor, b: &FlexTensor) -> (FlexTensor, Layout) {
    let [n, c, h, w] = dims4(a);
    let layout = if layout_of(a) == Layout::Nhwc || layout_of(b) == Layout::Nhwc {
        Layout::Nhwc
    } else {
        Layout::Nchw
    };
    let (av, bv) = (values_in(a, layout), values_in(b, layout));
    (
        act_tensor(cpu::add_relu(&av, &bv), [n, c, h, w], layout),
        layout,
    )
}

/// `relu(x)` on flex in `x`'s layout.
fn relu_forward(x: &FlexTensor) -> (FlexTensor, Layout) {
    let (v, layout) = act_values(x);
    (act_tensor(cpu::relu(&v), dims4(x), layout), layout)
}

/// Local response normalisation on flex in `x`'s layout, with what its backward pass needs.
fn lrn_forward(x: &FlexTensor, p: LrnConst) -> (FlexTensor, LrnSaved, Layout) {
    let s = nchw(x);
    let (xv, layout) = act_values(x);
    let (y, saved) = lrn::forward(&xv, s, layout, p);
    (act_tensor(y, dims4(x), layout), saved, layout)
}

/// Local response normalisation's output alone (no backward pass to feed).
fn lrn_infer(x: &FlexTensor, p: LrnConst) -> FlexTensor {
    let (xv, layout) = act_values(x);
    act_tensor(lrn::infer(&xv, nchw(x), layout, p), dims4(x), layout)
}

impl KernelOps for Flex {
    fn cl_relu(x: FlexTensor) -> FlexTensor {
        relu_forward(&x).0
    }

    fn cl_lrn(x: FlexTensor, p: LrnConst) -> FlexTensor {
        lrn_infer(&x, p)
    }

    fn cl_add_relu(a: FlexTensor, b: FlexTensor) -> FlexTensor {
        add_relu_forward(&a, &b).0
    }

    fn cl_conv2d(x: FlexTensor, weight: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        conv::forward(&x, &weight, None, &options)
    }

    fn cl_conv2d_bias(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        conv::forward(&x, &weight, Some(&bias), &options)
    }

    fn cl_conv2d_bias_relu(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        let bias = Some(&bias);
        conv::forward_relu(&x, &weight, bias, &options)
            .unwrap_or_else(|| relu_forward(&conv::forward(&x, &weight, bias, &options)).0)
    }

    fn cl_batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (f, s, layout) = bn_forward(&x, &gamma, &beta, epsilon, relu);
        (
            act_tensor(f.y, [s.n, s.c, s.h, s.w], layout),
            tensor(f.mean, [s.c]),
            tensor(f.var, [s.c]),
        )
    }

    fn cl_max_pool2d(x: FlexTensor, options: MaxPoolOptions<2>) -> FlexTensor {
        pool_forward(&x, pool_of(&options)).0
    }

    fn cl_scale_shift(
        x: FlexTensor,
        scale: FlexTensor,
        shift: FlexTensor,
        relu: bool,
    ) -> FlexTensor {
        let s = nchw(&x);
        let (xv, layout) = act_values(&x);
        let (a, b) = (values(&scale), values(&shift));
        let y = match layout {
            Layout::Nchw => cpu::scale_shift(&xv, s, &a, &b, relu),
            Layout::Nhwc => cpu::scale_shift_nhwc(&xv, s, &a, &b, relu),
        };
        act_tensor(y, [s.n, s.c, s.h, s.w], layout)
    }
}

type Ad<C> = Autodiff<Flex, C>;

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    /// Input, weight, options, and whether a bias is the third parent.
    type State = (FlexTensor, FlexTensor, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, w, options) = ops.state;
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, conv::backward_data(&x, &w, &grad, &options));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, conv::backward_weights(&x, &w, &grad, &options));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, conv::backward_bias(&grad));
        }
    }
}

#[derive(Debug)]
struct ConvNoBiasBackward;

impl Backward<Flex, 2> for ConvNoBiasBackward {
    type State = (FlexTensor, FlexTensor, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, w, options) = ops.state;
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, conv::backward_data(&x, &w, &grad, &options));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, conv::backward_weights(&x, &w, &grad, &options));
        }
    }
}

#[derive(Debug)]
struct BnBackward;

impl Backward<Flex, 3> for BnBackward {
    /// Input, γ, β, batch mean, 1/√(var + ε), fused ReLU, the input's layout.
    type State = (
        FlexTensor,
        Vec<f32>,
        Vec<f32>,
        Vec<f32>,
        Vec<f32>,
        bool,
        Layout,
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_g, node_b] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, gamma, beta, mean, invstd, relu, layout) = ops.state;
        let s = nchw(&x);
        let (xv, gv) = (values_in(&x, layout), values_in(&grad, layout));
        let backward = match layout {
            Layout::Nchw => cpu::bn_train_backward,
            Layout::Nhwc => cpu::bn_train_backward_nhwc,
        };
        let b = backward(&xv, &gv, s, &gamma, &beta, &mean, &invstd, relu);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, act_tensor(b.dx, [s.n, s.c, s.h, s.w], layout));
        }
        if let Some(node) = node_g {
            grads.register::<Flex>(node.id, tensor(b.dgamma, [s.c]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, tensor(b.dbeta, [s.c]));
        }
    }
}

/// The gradient through a ReLU whose output was `y` (stored in `layout`): `grad` where
/// `y > 0`, in that layout.
fn relu_grad(y: &FlexTensor, layout: Layout, grad: &FlexTensor) -> FlexTensor {
    let dx = cpu::relu_backward(&values_in(y, layout), &values_in(grad, layout));
    act_tensor(dx, dims4(y), layout)
}

#[derive(Debug)]
struct AddReluBackward;

impl Backward<Flex, 2> for AddReluBackward {
    /// The output (its positive entries pass the gradient) and its layout.
    type State = (FlexTensor, Layout);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_a, node_b] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (y, layout) = ops.state;
        let dx = relu_grad(&y, layout, &grad);
        if let Some(node) = node_a {
            grads.register::<Flex>(node.id, dx.clone());
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, dx);
        }
    }
}

#[derive(Debug)]
struct ReluBackward;

impl Backward<Flex, 1> for ReluBackward {
    /// The output (its positive entries pass the gradient) and its layout.
    type State = (FlexTensor, Layout);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (y, layout) = ops.state;
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, relu_grad(&y, layout, &grad));
        }
    }
}

#[derive(Debug)]
struct LrnBackward;

impl Backward<Flex, 1> for LrnBackward {
    /// The input, the saved `s` and `s^−beta`, the constants, the layout.
    type State = (FlexTensor, LrnSaved, LrnConst, Layout);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, saved, p, layout) = ops.state;
        if let Some(node) = node_x {
            let (xv, gv) = (values_in(&x, layout), values_in(&grad, layout));
            let dx = lrn::backward(&xv, &gv, &saved, nchw(&x), layout, p);
            grads.register::<Flex>(node.id, act_tensor(dx, dims4(&x), layout));
        }
    }
}

#[derive(Debug)]
struct PoolBackward;

impl Backward<Flex, 1> for PoolBackward {
    /// Input geometry, argmax per output, output plane size, layout.
    type State = (Nchw, Vec<u32>, usize, Layout);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (s, idx, out_plane, layout) = ops.state;
        if let Some(node) = node_x {
            let g = values_in(&grad, layout);
            let dx = match layout {
                Layout::Nchw => cpu::max_pool_backward(&g, &idx, s, out_plane),
                Layout::Nhwc => cpu::max_pool_backward_nhwc(&g, &idx, s, out_plane),
            };
            grads.register::<Flex>(node.id, act_tensor(dx, [s.n, s.c, s.h, s.w], layout));
        }
    }
}

impl<C: CheckpointStrategy> KernelOps for Ad<C> {
    fn cl_lrn(x: FloatTensor<Self>, p: LrnConst) -> FloatTensor<Self> {
        match LrnBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, saved, layout) = lrn_forward(x.primitive(), p);
                prep.finish((x.into_primitive(), saved, p, layout), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(lrn_infer(x.primitive(), p)),
        }
    }

    fn cl_relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let (y, layout) = relu_forward(x.primitive());
        match ReluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((y.clone(), layout), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn cl_add_relu(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        let (y, layout) = add_relu_forward(a.primitive(), b.primitive());
        match AddReluBackward
            .prepare::<C>([a.node(), b.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((y.clone(), layout), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn cl_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match ConvNoBiasBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = conv::forward(x.primitive(), weight.primitive(), None, &options);
                prep.finish((x.into_primitive(), weight.into_primitive(), options), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(conv::forward(
                x.primitive(),
                weight.primitive(),
                None,
                &options,
            )),
        }
    }

    fn cl_conv2d_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match ConvBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = conv::forward(
                    x.primitive(),
                    weight.primitive(),
                    Some(bias.primitive()),
                    &options,
                );
                prep.finish((x.into_primitive(), weight.into_primitive(), options), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(conv::forward(
                x.primitive(),
                weight.primitive(),
                Some(bias.primitive()),
                &options,
            )),
        }
    }

    fn cl_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (f, s, layout) = bn_forward(
            x.primitive(),
            gamma.primitive(),
            beta.primitive(),
            epsilon,
            relu,
        );
        // The batch statistics leave the graph (detached), as Burn's own batch norm.
        let mean = FloatTensor::<Self>::new(tensor(f.mean.clone(), [s.c]));
        let var = FloatTensor::<Self>::new(tensor(f.var, [s.c]));
        let y = act_tensor(f.y, [s.n, s.c, s.h, s.w], layout);
        let out = match BnBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                (
                    x.into_primitive(),
                    values(gamma.primitive()).into_owned(),
                    values(beta.primitive()).into_owned(),
                    f.mean,
                    f.invstd,
                    relu,
                    layout,
                ),
                y,
            ),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        (out, mean, var)
    }

    fn cl_conv2d_bias_relu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        // Plain devices only (ops.rs), as `cl_scale_shift`.
        let y = <Flex as KernelOps>::cl_conv2d_bias_relu(
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
            options,
        );
        FloatTensor::<Self>::new(y)
    }

    fn cl_scale_shift(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        // Callers use it on plain devices only (ops.rs); on an autodiff device it would be a
        // constant of the graph.
        let y = <Flex as KernelOps>::cl_scale_shift(
            x.into_primitive(),
            scale.into_primitive(),
            shift.into_primitive(),
            relu,
        );
        FloatTensor::<Self>::new(y)
    }

    fn cl_max_pool2d(x: FloatTensor<Self>, options: MaxPoolOptions<2>) -> FloatTensor<Self> {
        let (y, idx, s, out_plane, layout) = pool_forward(x.primitive(), pool_of(&options));
        match PoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((s, idx, out_plane, layout), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}
