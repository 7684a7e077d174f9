//! Weight initialisation rules for convolutions and fully connected layers. Batch-norm scales
//! start at 1 and shifts at 0 everywhere (every torchvision family does that).
//!
//! Fans follow PyTorch's `_calculate_fan_in_and_fan_out` for a weight `[out, in/groups, kh, kw]`:
//! fan_in = in/groups·kh·kw, fan_out = out·kh·kw (Burn divides fan_out by the groups; the
//! difference only shows for grouped convolutions, so the fans are passed explicitly here).

use burn::module::Param;
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// How the weights of one layer kind are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightInit {
    /// `kaiming_normal_(mode="fan_out", nonlinearity="relu")`: N(0, 2 / fan_out).
    KaimingNormalFanOut,
    /// `kaiming_normal_(mode="fan_out", nonlinearity="tanh")`: N(0, (5/3)² / fan_out), the
    /// gain PyTorch's `calculate_gain("tanh")` gives (ReLU's √2 would saturate a tanh net).
    KaimingNormalFanOutTanh,
    /// PyTorch's layer default: `kaiming_uniform_(a=√5)`, i.e. U(±1/√fan_in).
    PytorchDefault,
    /// N(0, std²) (torchvision draws GoogLeNet's from a normal truncated at ±2, which at
    /// std 0.01 is 200 standard deviations away: the same distribution).
    Normal { std: f64 },
}

/// How biases are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BiasInit {
    Zero,
    /// PyTorch's layer default: U(±1/√fan_in).
    PytorchDefault,
}

/// The rules for every conv and linear layer of a model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InitScheme {
    pub conv: WeightInit,
    pub conv_bias: BiasInit,
    pub linear: WeightInit,
    pub linear_bias: BiasInit,
}

impl Default for InitScheme {
    fn default() -> Self {
        Self::pytorch()
    }
}

impl InitScheme {
    /// PyTorch's layer defaults (torchvision's AlexNet keeps them).
    pub const fn pytorch() -> Self {
        Self {
            conv: WeightInit::PytorchDefault,
            conv_bias: BiasInit::PytorchDefault,
            linear: WeightInit::PytorchDefault,
            linear_bias: BiasInit::PytorchDefault,
        }
    }

    /// torchvision's `resnet.py`: Kaiming-normal fan-out convs (no conv biases exist there);
    /// the final linear layer keeps PyTorch's default.
    pub const fn torchvision_resnet() -> Self {
        Self {
            conv: WeightInit::KaimingNormalFanOut,
            conv_bias: BiasInit::Zero,
            linear: WeightInit::PytorchDefault,
            linear_bias: BiasInit::PytorchDefault,
        }
    }

    /// torchvision's `vgg.py` (`init_weights=True`): Kaiming-normal fan-out convs with zero
    /// bias, linear weights N(0, 0.01) with zero bias.
    pub const fn torchvision_vgg() -> Self {
        Self {
            conv: WeightInit::KaimingNormalFanOut,
            conv_bias: BiasInit::Zero,
            linear: WeightInit::Normal { std: 0.01 },
            linear_bias: BiasInit::Zero,
        }
    }

    /// torchvision's `googlenet.py`: `trunc_normal_(std=0.01, a=-2, b=2)` for conv and linear
    /// weights; the linear bias keeps PyTorch's default (its convs have no bias).
    pub const fn torchvision_googlenet() -> Self {
        Self {
            conv: WeightInit::Normal { std: 0.01 },
            conv_bias: BiasInit::PytorchDefault,
            linear: WeightInit::Normal { std: 0.01 },
            linear_bias: BiasInit::PytorchDefault,
        }
    }

    /// Kaiming-normal fan-out for every conv and linear weight, zero biases.
    pub const fn kaiming() -> Self {
        Self {
            conv: WeightInit::KaimingNormalFanOut,
            conv_bias: BiasInit::Zero,
            linear: WeightInit::KaimingNormalFanOut,
            linear_bias: BiasInit::Zero,
        }
    }

    /// [`Self::kaiming`] with tanh's gain, 5/3, for a tanh network.
    pub const fn kaiming_tanh() -> Self {
        Self {
            conv: WeightInit::KaimingNormalFanOutTanh,
            conv_bias: BiasInit::Zero,
            linear: WeightInit::KaimingNormalFanOutTanh,
            linear_bias: BiasInit::Zero,
        }
    }

    /// N(0, std²) for every conv and linear weight, zero biases (Krizhevsky et al. 2012 used
    /// std 0.01; so did the VGG paper for its shallow net A).
    pub const fn normal(std: f64) -> Self {
        Self {
            conv: WeightInit::Normal { std },
            conv_bias: BiasInit::Zero,
            linear: WeightInit::Normal { std },
            linear_bias: BiasInit::Zero,
        }
    }
}

impl WeightInit {
    fn initializer(self) -> Initializer {
        match self {
            WeightInit::KaimingNormalFanOut => Initializer::KaimingNormal {
                gain: 2f64.sqrt(),
                fan_out_only: true,
            },
            WeightInit::KaimingNormalFanOutTanh => Initializer::KaimingNormal {
                gain: 5.0 / 3.0,
                fan_out_only: true,
            },
            WeightInit::PytorchDefault => pytorch_uniform(),
            WeightInit::Normal { std } => Initializer::Normal { mean: 0.0, std },
        }
    }

    /// A lazily drawn weight of `shape` with PyTorch's fans.
    pub fn param<const D: usize>(
        self,
        shape: [usize; D],
        fan_in: usize,
        fan_out: usize,
        device: &Device,
    ) -> Param<Tensor<D>> {
        self.initializer()
            .init_with(shape, Some(fan_in), Some(fan_out), device)
    }
}

impl BiasInit {
    /// A lazily drawn bias of `n` elements for a layer with `fan_in`.
    pub fn param(self, n: usize, fan_in: usize, device: &Device) -> Param<Tensor<1>> {
        match self {
            BiasInit::Zero => Initializer::Zeros.init([n], device),
            BiasInit::PytorchDefault => {
                pytorch_uniform().init_with([n], Some(fan_in), None, device)
            }
        }
    }
}

/// `kaiming_uniform_(a=√5)`: bound = gain·√(3/fan_in) with gain = √(2/(1+5)) = 1/√3, so
/// U(±1/√fan_in); Burn applies the same formula to biases given the layer's fan_in.
fn pytorch_uniform() -> Initializer {
    Initializer::KaimingUniform {
        gain: 1.0 / 3f64.sqrt(),
        fan_out_only: false,
    }
}
