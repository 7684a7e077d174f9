use burn::nn::Initializer;
use serde::{Deserialize, Serialize};

/// Weight initialisation of convolutions and fully connected layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitScheme {
    /// torchvision's ResNet scheme: Kaiming-normal with fan-out and ReLU gain for
    /// convolutions, zero conv biases; linear layers keep PyTorch's default (torchvision's VGG
    /// draws its 4096-wide classifier from N(0, 0.01), about Kaiming's std at fan-in 25,088,
    /// but far too small for narrow heads such as LeNet's, which then barely train).
    #[default]
    Kaiming,
    /// PyTorch's layer defaults: Kaiming-uniform with a = √5 for weights, U(±1/√fan_in) for
    /// biases (Burn's own defaults are the same).
    Pytorch,
}

impl InitScheme {
    pub fn conv_weight(self) -> Initializer {
        match self {
            InitScheme::Kaiming => Initializer::KaimingNormal {
                gain: 2f64.sqrt(),
                fan_out_only: true,
            },
            InitScheme::Pytorch => pytorch_default(),
        }
    }

    pub fn linear_weight(self) -> Initializer {
        pytorch_default()
    }

    /// Linear bias initialiser; `None` keeps the weight initialiser (U(±1/√fan_in)).
    pub fn linear_bias(self) -> Option<Initializer> {
        None
    }

    /// Conv bias initialiser; `None` keeps the weight initialiser (PyTorch's default scheme).
    pub fn conv_bias(self) -> Option<Initializer> {
        match self {
            InitScheme::Kaiming => Some(Initializer::Zeros),
            InitScheme::Pytorch => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            InitScheme::Kaiming => "kaiming",
            InitScheme::Pytorch => "pytorch",
        }
    }
}

fn pytorch_default() -> Initializer {
    Initializer::KaimingUniform {
        gain: 1.0 / 3f64.sqrt(),
        fan_out_only: false,
    }
}
