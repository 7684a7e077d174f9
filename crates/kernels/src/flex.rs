//! The kernels plugged into flex through Burn's backend extensions: an extension trait
//! implemented for `Flex` (forward kernels) and for `Autodiff<Flex>` (the same forward, with
//! hand-written backward passes registered on the autodiff graph). Other backends never reach
//! this module (see `ops.rs`).

use burn::backend::TensorMetadata;
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

/// Forward batch norm on flex, returning the saved quantities for the backward pass too.
fn bn_forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    eps: f64,
    relu: bool,
) -> (cpu::BnForward, Nchw) {
    let s = nchw(x);
    let f = cpu::bn_train_forward(&values(x), s, &values(gamma), &values(beta), eps, relu);
    (f, s)
}

impl KernelOps for Flex {
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

    fn cl_batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let shape = x.shape();
        let (f, s) = bn_forward(&x, &gamma, &beta, epsilon, relu);
        (
            tensor(f.y, shape),
            tensor(f.mean, [s.c]),
            tensor(f.var, [s.c]),
        )
    }

    fn cl_max_pool2d(x: FlexTensor, options: MaxPoolOptions<2>) -> FlexTensor {
        let s = nchw(&x);
        let (y, _, oh, ow) = cpu::max_pool_forward(&values(&x), s, pool_of(&options));
        tensor(y, [s.n, s.c, oh, ow])
    }

    fn cl_scale_shift(
        x: FlexTensor,
        scale: FlexTensor,
        shift: FlexTensor,
        relu: bool,
    ) -> FlexTensor {
        let s = nchw(&x);
        let y = cpu::scale_shift(&values(&x), s, &values(&scale), &values(&shift), relu);
        tensor(y, x.shape())
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
    /// Input, γ, β, batch mean, 1/√(var + ε), fused ReLU.
    type State = (FlexTensor, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, bool);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_g, node_b] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, gamma, beta, mean, invstd, relu) = ops.state;
        let s = nchw(&x);
        let b = cpu::bn_train_backward(
            &values(&x),
            &values(&grad),
            s,
            &gamma,
            &beta,
            &mean,
            &invstd,
            relu,
        );
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, tensor(b.dx, x.shape()));
        }
        if let Some(node) = node_g {
            grads.register::<Flex>(node.id, tensor(b.dgamma, [s.c]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, tensor(b.dbeta, [s.c]));
        }
    }
}

#[derive(Debug)]
struct PoolBackward;

impl Backward<Flex, 1> for PoolBackward {
    /// Input geometry, argmax per output, output plane size.
    type State = (Nchw, Vec<u32>, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (s, idx, out_plane) = ops.state;
        if let Some(node) = node_x {
            let dx = cpu::max_pool_backward(&values(&grad), &idx, s, out_plane);
            grads.register::<Flex>(node.id, tensor(dx, [s.n, s.c, s.h, s.w]));
        }
    }
}

impl<C: CheckpointStrategy> KernelOps for Ad<C> {
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
        let shape = x.primitive().shape();
        let (f, s) = bn_forward(
            x.primitive(),
            gamma.primitive(),
            beta.primitive(),
            epsilon,
            relu,
        );
        // The batch statistics leave the graph (detached), as Burn's own batch norm.
        let mean = FloatTensor::<Self>::new(tensor(f.mean.clone(), [s.c]));
        let var = FloatTensor::<Self>::new(tensor(f.var, [s.c]));
        let y = tensor(f.y, shape);
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
                ),
                y,
            ),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        (out, mean, var)
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
        let s = nchw(x.primitive());
        let (y, idx, oh, ow) = cpu::max_pool_forward(&values(x.primitive()), s, pool_of(&options));
        let y = tensor(y, [s.n, s.c, oh, ow]);
        match PoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((s, idx, oh * ow), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}
