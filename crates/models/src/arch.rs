//! The closed registry of architectures: one row per architecture carrying its spec, as
//! torchvision's `vgg16_bn = _vgg("D", True)`. Adding an architecture is one row here; the
//! family builder receives the spec and has no fall-through that could build something else.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ModelError;

/// Which file builds an architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    LeNet,
    AlexNet,
    ZfNet,
    Vgg,
    GoogLeNet,
    ResNet,
}

/// The three AlexNet layouts (see `alexnet.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlexNetLayout {
    /// torchvision's 64-192-384-256-256 ("one weird trick") variant.
    Torchvision,
    /// Krizhevsky et al. 2012: 96-256-384-384-256, LRN, two-GPU groups.
    Paper2012,
    /// A CIFAR-sized net with 3×3 convolutions.
    Cifar,
}

/// VGG's configurations, named after the columns of Simonyan & Zisserman's Table 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VggConfig {
    A,
    B,
    D,
    E,
}

/// Residual block type of the ImageNet ResNets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResNetBlock {
    Basic,
    Bottleneck,
}

/// Everything that tells one architecture from another; the family builders take it whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spec {
    LeNet,
    AlexNet(AlexNetLayout),
    ZfNet,
    /// `cifar`: 32×32 input and a 512-512 classifier.
    Vgg {
        config: VggConfig,
        batch_norm: bool,
        cifar: bool,
    },
    GoogLeNet {
        cifar: bool,
    },
    /// torchvision's ImageNet ResNets: block type and blocks per stage.
    ResNet {
        block: ResNetBlock,
        layers: [usize; 4],
    },
    /// He et al.'s CIFAR nets (§4.2): 6n + 2 layers; `shortcuts: false` is the plain net.
    CifarResNet {
        n: usize,
        shortcuts: bool,
    },
}

impl Spec {
    pub const fn family(self) -> Family {
        match self {
            Spec::LeNet => Family::LeNet,
            Spec::AlexNet(_) => Family::AlexNet,
            Spec::ZfNet => Family::ZfNet,
            Spec::Vgg { .. } => Family::Vgg,
            Spec::GoogLeNet { .. } => Family::GoogLeNet,
            Spec::ResNet { .. } | Spec::CifarResNet { .. } => Family::ResNet,
        }
    }

    /// The input the architecture is defined for, `[C, H, W]`.
    pub const fn input(self) -> [usize; 3] {
        match self {
            Spec::LeNet => [1, 28, 28],
            Spec::AlexNet(AlexNetLayout::Paper2012) => [3, 227, 227],
            Spec::AlexNet(AlexNetLayout::Cifar)
            | Spec::Vgg { cifar: true, .. }
            | Spec::GoogLeNet { cifar: true }
            | Spec::CifarResNet { .. } => [3, 32, 32],
            _ => [3, 224, 224],
        }
    }

    /// Designed for 32×32 CIFAR-sized input (or, for LeNet, MNIST-sized).
    pub const fn small_input(self) -> bool {
        let [_, h, _] = self.input();
        h <= 32
    }

    pub const fn classes(self) -> usize {
        if self.small_input() { 10 } else { 1000 }
    }
}

macro_rules! archs {
    ($($variant:ident => $name:literal, $spec:expr, $about:literal;)*) => {
        /// Every architecture convlab builds. Names are kebab-case (`vgg16-bn`, `resnet20`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Arch { $($variant),* }

        impl Arch {
            /// All architectures, in registry order (drives `convlab models` and the tests).
            pub const ALL: &'static [Arch] = &[$(Arch::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Arch::$variant => $name),* }
            }

            /// What distinguishes this architecture; the family builder's whole input.
            pub const fn spec(self) -> Spec {
                match self { $(Arch::$variant => $spec),* }
            }

            /// One line on what the architecture is.
            pub fn about(self) -> &'static str {
                match self { $(Arch::$variant => $about),* }
            }
        }
    };
}

use AlexNetLayout as Ax;
use ResNetBlock::{Basic, Bottleneck};
use VggConfig::{A, B, D, E};

const fn vgg(config: VggConfig, batch_norm: bool, cifar: bool) -> Spec {
    Spec::Vgg {
        config,
        batch_norm,
        cifar,
    }
}
const fn cifar_resnet(depth: usize, shortcuts: bool) -> Spec {
    Spec::CifarResNet {
        n: (depth - 2) / 6,
        shortcuts,
    }
}

archs! {
    LeNet5 => "lenet5", Spec::LeNet, "LeNet-5 (LeCun et al. 1998): conv5x5 6, pool, conv5x5 16, pool, FC 120-84";
    AlexNet => "alexnet", Spec::AlexNet(Ax::Torchvision), "AlexNet, torchvision layout (64-192-384-256-256, no LRN)";
    AlexNet2012 => "alexnet-2012", Spec::AlexNet(Ax::Paper2012), "AlexNet as in Krizhevsky et al. 2012 (96-256-384-384-256, LRN, 227x227)";
    AlexNetCifar => "alexnet-cifar", Spec::AlexNet(Ax::Cifar), "AlexNet-style CIFAR net (3x3 convs, FC 1024-1024)";
    ZfNet => "zfnet", Spec::ZfNet, "ZFNet (Zeiler & Fergus 2013): 7x7/2 stem with 96 filters, LRN";
    Vgg11 => "vgg11", vgg(A, false, false), "VGG-11, configuration A (Simonyan & Zisserman 2014)";
    Vgg13 => "vgg13", vgg(B, false, false), "VGG-13, configuration B";
    Vgg16 => "vgg16", vgg(D, false, false), "VGG-16, configuration D";
    Vgg19 => "vgg19", vgg(E, false, false), "VGG-19, configuration E";
    Vgg11Bn => "vgg11-bn", vgg(A, true, false), "VGG-11 with batch norm";
    Vgg13Bn => "vgg13-bn", vgg(B, true, false), "VGG-13 with batch norm";
    Vgg16Bn => "vgg16-bn", vgg(D, true, false), "VGG-16 with batch norm";
    Vgg19Bn => "vgg19-bn", vgg(E, true, false), "VGG-19 with batch norm";
    Vgg11Cifar => "vgg11-cifar", vgg(A, false, true), "VGG-11 for 32x32 input, FC 512-512 head";
    Vgg13Cifar => "vgg13-cifar", vgg(B, false, true), "VGG-13 for 32x32 input";
    Vgg16Cifar => "vgg16-cifar", vgg(D, false, true), "VGG-16 for 32x32 input";
    Vgg19Cifar => "vgg19-cifar", vgg(E, false, true), "VGG-19 for 32x32 input";
    Vgg11BnCifar => "vgg11-bn-cifar", vgg(A, true, true), "VGG-11-BN for 32x32 input";
    Vgg13BnCifar => "vgg13-bn-cifar", vgg(B, true, true), "VGG-13-BN for 32x32 input";
    Vgg16BnCifar => "vgg16-bn-cifar", vgg(D, true, true), "VGG-16-BN for 32x32 input (the vgg-cifar recipe)";
    Vgg19BnCifar => "vgg19-bn-cifar", vgg(E, true, true), "VGG-19-BN for 32x32 input";
    GoogLeNet => "googlenet", Spec::GoogLeNet { cifar: false }, "GoogLeNet / Inception v1, torchvision layout (BN in every conv)";
    GoogLeNetCifar => "googlenet-cifar", Spec::GoogLeNet { cifar: true }, "GoogLeNet for 32x32 input (3x3 stem of 192, no early pools)";
    ResNet18 => "resnet18", Spec::ResNet { block: Basic, layers: [2, 2, 2, 2] }, "ResNet-18, torchvision layout";
    ResNet34 => "resnet34", Spec::ResNet { block: Basic, layers: [3, 4, 6, 3] }, "ResNet-34, torchvision layout";
    ResNet50 => "resnet50", Spec::ResNet { block: Bottleneck, layers: [3, 4, 6, 3] }, "ResNet-50, torchvision layout (stride on the 3x3, v1.5)";
    ResNet101 => "resnet101", Spec::ResNet { block: Bottleneck, layers: [3, 4, 23, 3] }, "ResNet-101, torchvision layout";
    ResNet152 => "resnet152", Spec::ResNet { block: Bottleneck, layers: [3, 8, 36, 3] }, "ResNet-152, torchvision layout";
    ResNet20 => "resnet20", cifar_resnet(20, true), "ResNet-20 for CIFAR (He et al. 2015, 4.2), shortcut option A";
    ResNet32 => "resnet32", cifar_resnet(32, true), "ResNet-32 for CIFAR";
    ResNet44 => "resnet44", cifar_resnet(44, true), "ResNet-44 for CIFAR";
    ResNet56 => "resnet56", cifar_resnet(56, true), "ResNet-56 for CIFAR";
    ResNet110 => "resnet110", cifar_resnet(110, true), "ResNet-110 for CIFAR";
    Plain20 => "plain20", cifar_resnet(20, false), "Plain-20: ResNet-20 without shortcuts (degradation ablation)";
    Plain32 => "plain32", cifar_resnet(32, false), "Plain-32";
    Plain44 => "plain44", cifar_resnet(44, false), "Plain-44";
    Plain56 => "plain56", cifar_resnet(56, false), "Plain-56";
    Plain110 => "plain110", cifar_resnet(110, false), "Plain-110";
}

impl Arch {
    pub fn family(self) -> Family {
        self.spec().family()
    }

    /// The input an architecture is defined for, `[C, H, W]`.
    pub fn default_input(self) -> [usize; 3] {
        self.spec().input()
    }

    pub fn default_classes(self) -> usize {
        self.spec().classes()
    }

    /// Designed for 32×32 CIFAR-sized (or 28×28 MNIST-sized) images.
    pub fn is_small_input(self) -> bool {
        self.spec().small_input()
    }

    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|a| a.name()).collect()
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Arch::ALL
            .iter()
            .copied()
            .find(|a| a.name() == wanted)
            .ok_or_else(|| ModelError::UnknownArch {
                name: s.to_string(),
                known: Arch::names().join(", "),
            })
    }
}

/// A string naming one of [`Arch::names`] (for the recipe key reference).
impl schemars::JsonSchema for Arch {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Arch".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "enum": Arch::names(),
        })
    }
}

impl Serialize for Arch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Arch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
