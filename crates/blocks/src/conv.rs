use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, activation};
use serde::{Deserialize, Serialize};

use crate::error::ShapeError;
use crate::init::InitScheme;
use crate::norm::BatchNorm2d;
use crate::trace::{Shape, Trace, Tracer, conv_out, window_out};

/// Non-linearity applied after a convolution or a hidden fully connected layer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    #[default]
    Relu,
    Tanh,
    /// No activation (the last convolution of a residual block, projections).
    Identity,
}

impl Activation {
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Relu => activation::relu(x),
            Activation::Tanh => activation::tanh(x),
            Activation::Identity => x,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Identity => "",
        }
    }
}

/// Spatial padding of a convolution, in the seed notes' vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Padding {
    /// No padding: out = ceil((in − k + 1) / s).
    Valid,
    /// TensorFlow-style "same": out = ceil(in / s).
    Same,
    /// `p` zeros on every side: out = floor((in + 2p − k) / s) + 1 (PyTorch's `padding=p`).
    Explicit(usize),
}

impl Padding {
    fn to_burn(self) -> PaddingConfig2d {
        match self {
            Padding::Valid => PaddingConfig2d::Valid,
            Padding::Same => PaddingConfig2d::Same,
            Padding::Explicit(p) => PaddingConfig2d::Explicit(p, p, p, p),
        }
    }

    /// `(before, after)` zeros along one axis of `size` for a kernel `k` and stride `s`.
    /// "Same" puts the odd one after, as TensorFlow does.
    pub fn pair(self, size: usize, k: usize, s: usize) -> (usize, usize) {
        match self {
            Padding::Valid => (0, 0),
            Padding::Explicit(p) => (p, p),
            Padding::Same => {
                let out = size.div_ceil(s);
                let total = ((out - 1) * s + k).saturating_sub(size);
                (total / 2, total - total / 2)
            }
        }
    }
}

/// Convolution, optional batch norm, activation: the unit every family is built from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConvBnActConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: Padding,
    pub groups: usize,
    /// Conv bias; torchvision keeps it in VGG-BN but drops it before BN in ResNet/GoogLeNet.
    pub bias: bool,
    pub batch_norm: bool,
    pub bn_epsilon: f64,
    pub activation: Activation,
    pub init: InitScheme,
}

impl ConvBnActConfig {
    /// A `kernel`×`kernel` convolution with PyTorch padding `kernel / 2`, stride 1, bias on,
    /// no batch norm, ReLU.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize) -> Self {
        Self {
            in_channels,
            out_channels,
            kernel,
            stride: 1,
            padding: Padding::Explicit(kernel / 2),
            groups: 1,
            bias: true,
            batch_norm: false,
            bn_epsilon: 1e-5,
            activation: Activation::Relu,
            init: InitScheme::torchvision_resnet(),
        }
    }

    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
    /// Batch norm on or off; does not touch the bias (see [`Self::bn_no_bias`]).
    pub fn batch_norm(mut self, on: bool) -> Self {
        self.batch_norm = on;
        self
    }
    /// Batch norm on and the (redundant) conv bias off, as torchvision's ResNet and GoogLeNet.
    pub fn bn_no_bias(mut self) -> Self {
        self.batch_norm = true;
        self.bias = false;
        self
    }
    pub fn bn_epsilon(mut self, eps: f64) -> Self {
        self.bn_epsilon = eps;
        self
    }
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }
    pub fn init_scheme(mut self, init: InitScheme) -> Self {
        self.init = init;
        self
    }

    /// Checks the numbers Burn would otherwise panic on.
    pub fn validate(&self) -> Result<(), ShapeError> {
        let bad = |message: String| {
            Err(ShapeError::Invalid {
                layer: "conv".into(),
                message,
            })
        };
        if self.in_channels == 0 || self.out_channels == 0 {
            return bad(format!(
                "channels must be positive, got {} -> {}",
                self.in_channels, self.out_channels
            ));
        }
        if self.kernel == 0 || self.stride == 0 || self.groups == 0 {
            return bad(format!(
                "kernel {}, stride {} and groups {} must be positive",
                self.kernel, self.stride, self.groups
            ));
        }
        if !self.in_channels.is_multiple_of(self.groups)
            || !self.out_channels.is_multiple_of(self.groups)
        {
            return bad(format!(
                "{} groups do not divide {} -> {} channels",
                self.groups, self.in_channels, self.out_channels
            ));
        }
        Ok(())
    }

    pub fn init(&self, device: &Device) -> Result<ConvBnAct, ShapeError> {
        self.validate()?;
        let mut conv = Conv2dConfig::new(
            [self.in_channels, self.out_channels],
            [self.kernel, self.kernel],
        )
        .with_stride([self.stride, self.stride])
        .with_groups(self.groups)
        .with_padding(self.padding.to_burn())
        .with_bias(self.bias)
        .init(device);
        // Parameters are lazy: replacing them before first use draws nothing.
        let k2 = self.kernel * self.kernel;
        let fan_in = self.in_channels / self.groups * k2;
        let fan_out = self.out_channels * k2;
        conv.weight = self.init.conv.param(
            [
                self.out_channels,
                self.in_channels / self.groups,
                self.kernel,
                self.kernel,
            ],
            fan_in,
            fan_out,
            device,
        );
        if self.bias {
            conv.bias = Some(self.init.conv_bias.param(self.out_channels, fan_in, device));
        }
        let bn = self
            .batch_norm
            .then(|| BatchNorm2d::new(self.out_channels, self.bn_epsilon, device));
        Ok(ConvBnAct {
            conv,
            bn,
            activation: self.activation,
            padding: self.padding,
        })
    }
}

#[derive(Module, Debug)]
pub struct ConvBnAct {
    pub conv: Conv2d,
    pub bn: Option<BatchNorm2d>,
    #[module(skip)]
    pub activation: Activation,
    #[module(skip)]
    pub padding: Padding,
}

impl ConvBnAct {
    /// `[N, C_in, H, W]` → `[N, C_out, H', W']` with H', W' as in [`Padding`].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let [_, _, kh, kw] = self.conv.weight.shape().dims::<4>();
        let [sh, sw] = self.conv.stride;
        let options = ConvOptions::new_with_padding(
            self.conv.stride,
            [self.padding.pair(h, kh, sh), self.padding.pair(w, kw, sw)],
            self.conv.dilation,
            self.conv.groups,
        );
        let bias = self.conv.bias.as_ref().map(|b| b.val());
        // Evaluation without autodiff: the batch norm folded into the convolution, and its
        // ReLU in the same pass (on flex; the same two ops elsewhere).
        if let Some(bn) = &self.bn
            && !x.device().is_autodiff()
            && matches!(self.activation, Activation::Relu | Activation::Identity)
        {
            let params = bn.eval_params(&x.device());
            let relu = self.activation == Activation::Relu;
            return convlab_kernels::conv2d_bn_eval(
                x,
                self.conv.weight.val(),
                bias,
                params,
                options,
                relu,
            );
        }
        let x = convlab_kernels::conv2d(x, self.conv.weight.val(), bias, options);
        match &self.bn {
            // ReLU fused into the batch norm where it follows it.
            Some(bn) if self.activation == Activation::Relu => bn.forward(x, true),
            Some(bn) => self.activation.apply(bn.forward(x, false)),
            // Kept in the convolution's (channels-last) layout on flex.
            None if self.activation == Activation::Relu => convlab_kernels::relu(x),
            None => self.activation.apply(x),
        }
    }

    pub fn out_channels(&self) -> usize {
        self.conv.weight.lazy_shape().dims::<4>()[0]
    }

    fn describe(&self) -> String {
        let [f, cg, k, _] = self.conv.weight.lazy_shape().dims::<4>();
        let s = self.conv.stride[0];
        let pad = match self.padding {
            Padding::Valid => "valid".to_string(),
            Padding::Same => "same".to_string(),
            Padding::Explicit(p) => format!("p{p}"),
        };
        let groups = self.conv.groups;
        let mut d = format!("conv {k}x{k}/{s} {pad} {}->{f}", cg * groups);
        if groups > 1 {
            d.push_str(&format!(" g{groups}"));
        }
        if self.bn.is_some() {
            d.push_str(" +bn");
        }
        if self.activation != Activation::Identity {
            d.push_str(&format!(" +{}", self.activation.name()));
        }
        d
    }
}

impl Trace for ConvBnAct {
    fn trace(&self, t: &mut Tracer, name: &str, input: Shape) -> Result<Shape, ShapeError> {
        let kind = self.describe();
        let [f, cg, k, _] = self.conv.weight.lazy_shape().dims::<4>();
        let groups = self.conv.groups;
        let path = t.path(name);
        let (c, h, w) = input.chw(&path)?;
        if c != cg * groups {
            return Err(ShapeError::Channels {
                layer: path,
                kind,
                expected: cg * groups,
                got: c,
            });
        }
        let s = self.conv.stride[0];
        let (oh, ow) = match self.padding {
            Padding::Same => (conv_out::same(h, s), conv_out::same(w, s)),
            Padding::Valid => window_out(&path, &kind, (h, w), (k, k), (0, 0), s, false)?,
            Padding::Explicit(p) => window_out(&path, &kind, (h, w), (k, k), (p, p), s, false)?,
        };
        let out = Shape::Map(f, oh, ow);
        let macs = (f * oh * ow * cg * k * k) as u64;
        t.row(path, kind, out, crate::trace::count_params(self), macs);
        Ok(out)
    }
}
