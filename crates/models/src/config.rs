//! The knobs an ablation turns, checked against the family they are given to. What a knob
//! means for an architecture, and its default, come from the registry row's [`Spec`].

use convlab_blocks::init::InitScheme;
use convlab_blocks::{Activation, Shortcut};
use serde::{Deserialize, Serialize};

use crate::arch::{Arch, Family, Spec};
use crate::error::ModelError;

/// Weight initialisation (the `init` knob).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// As torchvision initialises the family: VGG Kaiming-normal fan-out convs and N(0, 0.01)
    /// linear layers; ResNet Kaiming-normal fan-out convs and PyTorch-default linear;
    /// GoogLeNet N(0, 0.01) (truncated at ±2) everywhere; AlexNet PyTorch's defaults. LeNet and
    /// ZFNet have no torchvision model and keep PyTorch's defaults, as AlexNet.
    #[default]
    Torchvision,
    /// Kaiming-normal fan-out for every conv and linear weight with the gain of the model's
    /// non-linearity (ReLU √2, tanh 5/3), zero biases.
    Kaiming,
    /// PyTorch's layer defaults: U(±1/√fan_in) for weights and biases.
    Pytorch,
    /// N(0, 0.01²) for every weight, zero biases (Krizhevsky et al. 2012).
    Normal,
}

impl Init {
    /// The concrete rules for an architecture with `activation` as its non-linearity.
    pub fn scheme(self, spec: Spec, activation: Activation) -> InitScheme {
        match self {
            Init::Torchvision => match spec.family() {
                Family::Vgg => InitScheme::torchvision_vgg(),
                Family::GoogLeNet => InitScheme::torchvision_googlenet(),
                Family::ResNet => InitScheme::torchvision_resnet(),
                Family::LeNet | Family::AlexNet | Family::ZfNet => InitScheme::pytorch(),
            },
            Init::Kaiming if activation == Activation::Tanh => InitScheme::kaiming_tanh(),
            Init::Kaiming => InitScheme::kaiming(),
            Init::Pytorch => InitScheme::pytorch(),
            Init::Normal => InitScheme::normal(0.01),
        }
    }
}

/// Classifier head of the feature-stack families (LeNet, AlexNet, ZFNet, VGG).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HeadKind {
    /// The family's fully connected stack (e.g. VGG's 4096-4096).
    Fc,
    /// Global average pooling and one linear layer (Lin et al. 2013, "Network in Network").
    Gap,
}

/// AlexNet's first layer (the `stem` knob): the 2012 paper's, ZFNet's, or a CIFAR-sized one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Stem {
    /// 11×11, stride 4 (Krizhevsky et al. 2012; torchvision pads by 2).
    Alexnet,
    /// 7×7, stride 2, padding 1 (Zeiler & Fergus 2013).
    Zfnet,
    /// 3×3, stride 1, padding 1 (for 32×32 input).
    Small,
}

/// Sub-sampling of LeNet-5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PoolKind {
    Max,
    /// Average pooling, as LeNet-5's original sub-sampling layers.
    Avg,
}

/// A model request: an architecture and the knobs that differ from its defaults.
/// Knobs left `None` take the family's published value; a knob that means nothing for the
/// family is an error rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The architecture (`convlab models` lists them).
    pub arch: Arch,
    /// Output classes (default: the dataset's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
    /// The input `[C, H, W]` (default: the data's shape, else the architecture's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<[usize; 3]>,
    /// Batch normalisation after each convolution (VGG's `-bn`, ResNet, GoogLeNet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_norm: Option<bool>,
    /// Dropout probability in the fully connected head (AlexNet, VGG, GoogLeNet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f64>,
    /// `fc` (the family's fully connected stack) or `gap` (global average pooling and one linear layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<HeadKind>,
    /// Channel and hidden-width multiplier (1.0 = published widths).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    /// Weight initialisation: `torchvision`, `kaiming`, `pytorch` or `normal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<Init>,
    /// Local response normalisation (AlexNet 2012, ZFNet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lrn: Option<bool>,
    /// ResNet shortcuts where shapes change: `a` (zero-padded identity), `b` (1×1 projections) or `none` (a plain net).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortcut: Option<Shortcut>,
    /// GoogLeNet's two auxiliary classifiers during training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux_heads: Option<bool>,
    /// The non-linearity: `relu`, `tanh` or `identity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    /// LeNet-5's sub-sampling: `max` or `avg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolKind>,
    /// Groups of the convolutions the 2012 AlexNet split over two GPUs (1 or 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<usize>,
    /// AlexNet: overlapping 3×3/2 max pooling (true, the paper's §3.4) or 2×2/2 (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_pool: Option<bool>,
    /// AlexNet: the first layer's kernel, stride and padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stem: Option<Stem>,
    /// Cut the network after its first `cut` feature layers (LeNet, AlexNet, ZFNet, VGG: the
    /// `features.<i>` rows of `convlab summary`) or residual stages (ResNet) and classify their
    /// output with global average pooling and one linear layer: early, generic features with a
    /// new head (transfer to small, different data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<usize>,
}

/// Every knob with its resolved value: what a family builder receives.
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    pub classes: usize,
    pub input: [usize; 3],
    pub batch_norm: bool,
    pub dropout: f64,
    pub head: HeadKind,
    pub width: f64,
    pub init: InitScheme,
    pub lrn: bool,
    pub shortcut: Shortcut,
    pub aux_heads: bool,
    pub activation: Activation,
    pub pool: PoolKind,
    pub groups: usize,
    /// `None`: the layout's own pooling.
    pub overlap_pool: Option<bool>,
    /// `None`: the layout's own first layer.
    pub stem: Option<Stem>,
}

/// An architecture knob of [`ModelConfig`] that only some families take (classes, input, width
/// and init apply to all); its name is the recipe key under `[model]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knob {
    BatchNorm,
    Dropout,
    Head,
    Lrn,
    Shortcut,
    AuxHeads,
    Activation,
    Pool,
    Groups,
    OverlapPool,
    Stem,
}

impl Knob {
    /// The key in a recipe's `[model]` table.
    pub fn name(self) -> &'static str {
        match self {
            Knob::BatchNorm => "batch_norm",
            Knob::Dropout => "dropout",
            Knob::Head => "head",
            Knob::Lrn => "lrn",
            Knob::Shortcut => "shortcut",
            Knob::AuxHeads => "aux_heads",
            Knob::Activation => "activation",
            Knob::Pool => "pool",
            Knob::Groups => "groups",
            Knob::OverlapPool => "overlap_pool",
            Knob::Stem => "stem",
        }
    }
}

impl ModelConfig {
    pub fn new(arch: Arch) -> Self {
        Self {
            arch,
            classes: None,
            input: None,
            batch_norm: None,
            dropout: None,
            head: None,
            width: None,
            init: None,
            lrn: None,
            shortcut: None,
            aux_heads: None,
            activation: None,
            pool: None,
            groups: None,
            overlap_pool: None,
            stem: None,
            cut: None,
        }
    }

    pub fn with_classes(mut self, classes: usize) -> Self {
        self.classes = Some(classes);
        self
    }
    pub fn with_input(mut self, input: [usize; 3]) -> Self {
        self.input = Some(input);
        self
    }
    pub fn with_width(mut self, width: f64) -> Self {
        self.width = Some(width);
        self
    }
    pub fn with_batch_norm(mut self, on: bool) -> Self {
        self.batch_norm = Some(on);
        self
    }
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = Some(p);
        self
    }
    pub fn with_head(mut self, head: HeadKind) -> Self {
        self.head = Some(head);
        self
    }
    pub fn with_init(mut self, init: Init) -> Self {
        self.init = Some(init);
        self
    }
    pub fn with_lrn(mut self, on: bool) -> Self {
        self.lrn = Some(on);
        self
    }
    pub fn with_shortcut(mut self, shortcut: Shortcut) -> Self {
        self.shortcut = Some(shortcut);
        self
    }
    pub fn with_aux_heads(mut self, on: bool) -> Self {
        self.aux_heads = Some(on);
        self
    }
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = Some(activation);
        self
    }
    pub fn with_pool(mut self, pool: PoolKind) -> Self {
        self.pool = Some(pool);
        self
    }
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = Some(groups);
        self
    }
    pub fn with_overlap_pool(mut self, on: bool) -> Self {
        self.overlap_pool = Some(on);
        self
    }
    pub fn with_stem(mut self, stem: Stem) -> Self {
        self.stem = Some(stem);
        self
    }

    /// The knobs that mean something for this architecture (besides classes, input, width
    /// and init, which every architecture takes).
    pub fn applicable_knobs(arch: Arch) -> &'static [Knob] {
        use crate::arch::AlexNetLayout;
        use Knob::*;
        match arch.spec() {
            Spec::LeNet => &[BatchNorm, Activation, Pool],
            Spec::AlexNet(AlexNetLayout::Paper2012) => &[
                BatchNorm,
                Dropout,
                Head,
                Lrn,
                Groups,
                Activation,
                OverlapPool,
                Stem,
            ],
            Spec::AlexNet(_) => &[BatchNorm, Dropout, Head, Lrn, Activation, OverlapPool, Stem],
            Spec::ZfNet => &[BatchNorm, Dropout, Head, Lrn, Activation],
            Spec::Vgg { .. } => &[BatchNorm, Dropout, Head, Activation],
            Spec::GoogLeNet { .. } => &[Dropout, AuxHeads],
            Spec::CifarResNet {
                shortcuts: false, ..
            } => &[],
            Spec::ResNet { .. } | Spec::CifarResNet { .. } => &[Shortcut],
        }
    }

    /// Whether `knob` means something for `arch`.
    pub fn takes(arch: Arch, knob: Knob) -> bool {
        Self::applicable_knobs(arch).contains(&knob)
    }

    /// Fills in the family defaults and checks every value.
    pub fn resolve(&self) -> Result<Knobs, ModelError> {
        let arch = self.arch;
        let err = |knob: &'static str, message: String| ModelError::Knob {
            arch: arch.name().to_string(),
            knob,
            message,
        };
        let applicable = Self::applicable_knobs(arch);
        let given: [(Knob, bool); 11] = [
            (Knob::BatchNorm, self.batch_norm.is_some()),
            (Knob::Dropout, self.dropout.is_some()),
            (Knob::Head, self.head.is_some()),
            (Knob::Lrn, self.lrn.is_some()),
            (Knob::Shortcut, self.shortcut.is_some()),
            (Knob::AuxHeads, self.aux_heads.is_some()),
            (Knob::Activation, self.activation.is_some()),
            (Knob::Pool, self.pool.is_some()),
            (Knob::Groups, self.groups.is_some()),
            (Knob::OverlapPool, self.overlap_pool.is_some()),
            (Knob::Stem, self.stem.is_some()),
        ];
        for (knob, set) in given {
            if set && !applicable.contains(&knob) {
                let hint = if applicable.is_empty() {
                    "it takes only classes, input, width and init".to_string()
                } else {
                    let names: Vec<&str> = applicable.iter().map(|k| k.name()).collect();
                    format!("it takes classes, input, width, init, {}", names.join(", "))
                };
                return Err(err(
                    knob.name(),
                    format!("does not apply to {arch}; {hint}"),
                ));
            }
        }
        let defaults = Knobs::defaults(arch);
        let classes = self.classes.unwrap_or(defaults.classes);
        if classes == 0 {
            return Err(err("classes", "must be at least 1, got 0".into()));
        }
        let input = self.input.unwrap_or(defaults.input);
        if input.contains(&0) {
            return Err(err(
                "input",
                format!(
                    "must be positive, got {}x{}x{}",
                    input[0], input[1], input[2]
                ),
            ));
        }
        let width = self.width.unwrap_or(1.0);
        if !(width.is_finite() && width > 0.0 && width <= 16.0) {
            return Err(err("width", format!("must be in (0, 16], got {width}")));
        }
        let dropout = self.dropout.unwrap_or(defaults.dropout);
        if !(0.0..1.0).contains(&dropout) {
            return Err(err("dropout", format!("must be in [0, 1), got {dropout}")));
        }
        let groups = self.groups.unwrap_or(defaults.groups);
        if !(groups == 1 || groups == 2) {
            return Err(err("groups", format!("must be 1 or 2, got {groups}")));
        }
        Ok(Knobs {
            classes,
            input,
            batch_norm: self.batch_norm.unwrap_or(defaults.batch_norm),
            dropout,
            head: self.head.unwrap_or(defaults.head),
            width,
            init: self
                .init
                .unwrap_or_default()
                .scheme(arch.spec(), self.activation.unwrap_or(defaults.activation)),
            lrn: self.lrn.unwrap_or(defaults.lrn),
            shortcut: self.shortcut.unwrap_or(defaults.shortcut),
            aux_heads: self.aux_heads.unwrap_or(defaults.aux_heads),
            activation: self.activation.unwrap_or(defaults.activation),
            pool: self.pool.unwrap_or(defaults.pool),
            groups,
            overlap_pool: self.overlap_pool,
            stem: self.stem,
        })
    }
}

impl Knobs {
    /// The published configuration of each architecture.
    pub fn defaults(arch: Arch) -> Knobs {
        use crate::arch::AlexNetLayout;
        let spec = arch.spec();
        let batch_norm = match spec {
            Spec::Vgg { batch_norm, .. } => batch_norm,
            Spec::GoogLeNet { .. } | Spec::ResNet { .. } | Spec::CifarResNet { .. } => true,
            Spec::LeNet | Spec::AlexNet(_) | Spec::ZfNet => false,
        };
        let dropout = match spec.family() {
            Family::LeNet | Family::ResNet => 0.0,
            Family::GoogLeNet => 0.2,
            Family::AlexNet | Family::ZfNet | Family::Vgg => 0.5,
        };
        let shortcut = match spec {
            Spec::CifarResNet {
                shortcuts: false, ..
            } => Shortcut::None,
            Spec::ResNet { .. } => Shortcut::B,
            _ => Shortcut::A,
        };
        Knobs {
            classes: spec.classes(),
            input: spec.input(),
            batch_norm,
            dropout,
            head: HeadKind::Fc,
            width: 1.0,
            init: Init::default().scheme(spec, Activation::Relu),
            lrn: matches!(spec, Spec::AlexNet(AlexNetLayout::Paper2012) | Spec::ZfNet),
            shortcut,
            aux_heads: false,
            activation: Activation::Relu,
            pool: PoolKind::Max,
            groups: 1,
            overlap_pool: None,
            stem: None,
        }
    }
}

/// Parses `CxHxW` (e.g. `3x32x32`).
pub fn parse_input(s: &str) -> Result<[usize; 3], ModelError> {
    let parts: Vec<usize> = s
        .split(['x', 'X', '×'])
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| ModelError::InputShape(s.to_string()))?;
    match parts.as_slice() {
        [c, h, w] if *c > 0 && *h > 0 && *w > 0 => Ok([*c, *h, *w]),
        _ => Err(ModelError::InputShape(s.to_string())),
    }
}
