//! The closed registry of architectures.

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

macro_rules! archs {
    ($($variant:ident => $name:literal, $family:ident, $about:literal;)*) => {
        /// Every architecture convlab builds. Names are kebab-case (`vgg16-bn`, `resnet20`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Arch { $($variant),* }

        impl Arch {
            /// All architectures, in registry order (drives `convlab models` and the tests).
            pub const ALL: &'static [Arch] = &[$(Arch::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Arch::$variant => $name),* }
            }

            pub fn family(self) -> Family {
                match self { $(Arch::$variant => Family::$family),* }
            }

            /// One line on what the architecture is.
            pub fn about(self) -> &'static str {
                match self { $(Arch::$variant => $about),* }
            }
        }
    };
}

archs! {
    LeNet5 => "lenet5", LeNet, "LeNet-5 (LeCun et al. 1998): conv5x5 6, pool, conv5x5 16, pool, FC 120-84";
    AlexNet => "alexnet", AlexNet, "AlexNet, torchvision layout (64-192-384-256-256, no LRN)";
    AlexNet2012 => "alexnet-2012", AlexNet, "AlexNet as in Krizhevsky et al. 2012 (96-256-384-384-256, LRN, 227x227)";
    AlexNetCifar => "alexnet-cifar", AlexNet, "AlexNet-style CIFAR net (3x3 convs, FC 1024-1024)";
    ZfNet => "zfnet", ZfNet, "ZFNet (Zeiler & Fergus 2013): 7x7/2 stem with 96 filters, LRN";
    Vgg11 => "vgg11", Vgg, "VGG-11, configuration A (Simonyan & Zisserman 2014)";
    Vgg13 => "vgg13", Vgg, "VGG-13, configuration B";
    Vgg16 => "vgg16", Vgg, "VGG-16, configuration D";
    Vgg19 => "vgg19", Vgg, "VGG-19, configuration E";
    Vgg11Bn => "vgg11-bn", Vgg, "VGG-11 with batch norm";
    Vgg13Bn => "vgg13-bn", Vgg, "VGG-13 with batch norm";
    Vgg16Bn => "vgg16-bn", Vgg, "VGG-16 with batch norm";
    Vgg19Bn => "vgg19-bn", Vgg, "VGG-19 with batch norm";
    Vgg11Cifar => "vgg11-cifar", Vgg, "VGG-11 for 32x32 input, FC 512-512 head";
    Vgg13Cifar => "vgg13-cifar", Vgg, "VGG-13 for 32x32 input";
    Vgg16Cifar => "vgg16-cifar", Vgg, "VGG-16 for 32x32 input";
    Vgg19Cifar => "vgg19-cifar", Vgg, "VGG-19 for 32x32 input";
    Vgg11BnCifar => "vgg11-bn-cifar", Vgg, "VGG-11-BN for 32x32 input";
    Vgg13BnCifar => "vgg13-bn-cifar", Vgg, "VGG-13-BN for 32x32 input";
    Vgg16BnCifar => "vgg16-bn-cifar", Vgg, "VGG-16-BN for 32x32 input (the vgg-cifar recipe)";
    Vgg19BnCifar => "vgg19-bn-cifar", Vgg, "VGG-19-BN for 32x32 input";
    GoogLeNet => "googlenet", GoogLeNet, "GoogLeNet / Inception v1, torchvision layout (BN in every conv)";
    GoogLeNetCifar => "googlenet-cifar", GoogLeNet, "GoogLeNet for 32x32 input (3x3 stem of 192, no early pools)";
    ResNet18 => "resnet18", ResNet, "ResNet-18, torchvision layout";
    ResNet34 => "resnet34", ResNet, "ResNet-34, torchvision layout";
    ResNet50 => "resnet50", ResNet, "ResNet-50, torchvision layout (stride on the 3x3, v1.5)";
    ResNet101 => "resnet101", ResNet, "ResNet-101, torchvision layout";
    ResNet152 => "resnet152", ResNet, "ResNet-152, torchvision layout";
    ResNet20 => "resnet20", ResNet, "ResNet-20 for CIFAR (He et al. 2015, 4.2), shortcut option A";
    ResNet32 => "resnet32", ResNet, "ResNet-32 for CIFAR";
    ResNet44 => "resnet44", ResNet, "ResNet-44 for CIFAR";
    ResNet56 => "resnet56", ResNet, "ResNet-56 for CIFAR";
    ResNet110 => "resnet110", ResNet, "ResNet-110 for CIFAR";
    Plain20 => "plain20", ResNet, "Plain-20: ResNet-20 without shortcuts (degradation ablation)";
    Plain32 => "plain32", ResNet, "Plain-32";
    Plain44 => "plain44", ResNet, "Plain-44";
    Plain56 => "plain56", ResNet, "Plain-56";
    Plain110 => "plain110", ResNet, "Plain-110";
}

impl Arch {
    /// The input an architecture is defined for, `[C, H, W]`.
    pub fn default_input(self) -> [usize; 3] {
        match self {
            Arch::LeNet5 => [1, 28, 28],
            Arch::AlexNet2012 => [3, 227, 227],
            a if a.is_cifar() => [3, 32, 32],
            _ => [3, 224, 224],
        }
    }

    pub fn default_classes(self) -> usize {
        if self == Arch::LeNet5 || self.is_cifar() {
            10
        } else {
            1000
        }
    }

    /// Designed for 32×32 CIFAR images.
    pub fn is_cifar(self) -> bool {
        use Arch::*;
        self.name().ends_with("-cifar")
            || matches!(
                self,
                ResNet20
                    | ResNet32
                    | ResNet44
                    | ResNet56
                    | ResNet110
                    | Plain20
                    | Plain32
                    | Plain44
                    | Plain56
                    | Plain110
            )
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
