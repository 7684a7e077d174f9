//! Training recipes: TOML data naming model, data, augmentation, optimiser, schedule,
//! regularisation, epochs, batch size and seed. A recipe may `extends` another; `--set
//! key=value` overrides any field; unknown keys and bad values are errors naming the key.

use std::collections::BTreeSet;
use std::path::PathBuf;

use convlab_datasets::{AugmentConfig, DatasetName};
use convlab_models::ModelConfig;

use serde::{Deserialize, Serialize};

pub use crate::config::error::{RecipeError, Result};
pub use crate::config::load::{BUILTIN, builtin_names};
use crate::config::load::{load_table, parse_table};
use crate::config::overrides::Override;
pub use crate::config::transfer::{Regime, TransferConfig, TransferSource};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Set from the file name; not written in recipes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// One line (or more) saying what the recipe trains; `convlab recipes` prints the first.
    pub description: String,
    /// Seed of the weights, the data order, the validation split and the augmentation.
    pub seed: u64,
    /// Passes over the training split.
    pub epochs: usize,
    /// Images per optimizer step.
    pub batch_size: usize,
    pub model: ModelConfig,
    pub data: DataConfig,
    #[serde(default)]
    pub augment: AugmentConfig,
    pub optimizer: OptimizerConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub train: TrainConfig,
    /// Start from pretrained weights (see [`crate::run::transfer`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferConfig>,
    /// Training diagnostics (see [`crate::record::diagnostics`]): they observe the run, never change it.
    #[serde(default, skip_serializing_if = "DiagnosticsConfig::is_default")]
    pub diagnostics: DiagnosticsConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    Cifar10,
    Cifar100,
    Mnist,
    FashionMnist,
    Synthetic,
    Folder,
}

impl DatasetKind {
    /// The name a recipe writes (`data.dataset = "fashion-mnist"`).
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Synthetic => "synthetic",
            DatasetKind::Folder => "folder",
        }
    }

    /// The catalog's dataset behind this kind (`None`: synthetic or a folder).
    pub fn catalog(self) -> Option<DatasetName> {
        Some(match self {
            DatasetKind::Cifar10 => DatasetName::Cifar10,
            DatasetKind::Cifar100 => DatasetName::Cifar100,
            DatasetKind::Mnist => DatasetName::Mnist,
            DatasetKind::FashionMnist => DatasetName::FashionMnist,
            DatasetKind::Synthetic | DatasetKind::Folder => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `cifar10`, `cifar100`, `mnist`, `fashion-mnist` (downloaded or found in the data directory), `folder` (your images: `path`, `shape`) or `synthetic` (`samples`, `classes`, `shape`).
    pub dataset: DatasetKind,
    /// Fraction of the training set held out (stratified) for validation.
    #[serde(default = "default_valid_fraction")]
    pub valid_fraction: f64,
    /// Normalise with the training split's per-channel mean and std.
    #[serde(default = "yes")]
    pub normalize: bool,
    /// Use only the first N training images (quick experiments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Keep only these classes (label indices), relabelled 0..k-1 in the order given, in the
    /// training and test sets (e.g. `[0, 1, 2, 3, 4]` and `[5, 6, 7, 8, 9]`: two halves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_subset: Option<Vec<usize>>,
    /// Use only the first N test images (quick experiments; the test score then has a wider
    /// error bar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_limit: Option<usize>,
    /// Zero pixels added on each side of every image (e.g. 2: Fashion-MNIST's 28×28 → 32×32).
    #[serde(default, skip_serializing_if = "is_zero")]
    // Serde leaves a zero out when writing, so schemars would not show the default.
    #[schemars(extend("default" = 0))]
    pub pad: usize,
    /// Resize every image to `[H, W]` (bilinear) before padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<[usize; 2]>,
    /// Image folder root (`dataset = "folder"`): `root/<class>/*.png|jpg|jpeg`, of which
    /// `test_fraction` of each class is held out for testing, or `root/train/<class>/…` and
    /// `root/test/<class>/…` when both are there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Folder data in the `root/<class>` layout: the share of each class's images held out as
    /// the test set (0.2 when left out), the same images whatever the run's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// `[C, H, W]` images are resized to (`folder`) or generated at (`synthetic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<[usize; 3]>,
    /// Synthetic data: training images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<usize>,
    /// Synthetic data: test images (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_samples: Option<usize>,
    /// Synthetic data: classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

fn default_valid_fraction() -> f64 {
    0.1
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    Sgd,
    Adam,
    Adamw,
}

/// PyTorch semantics: SGD without dampening, Adam ε = 1e-8, coupled L2 for SGD/Adam and
/// decoupled decay for AdamW, weight decay on every parameter unless the recipe exempts
/// batch-norm parameters and biases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// `sgd`, `adam` or `adamw` (PyTorch's semantics).
    pub kind: OptimizerKind,
    /// Learning rate (before the schedule).
    pub lr: f64,
    /// SGD momentum (no dampening).
    #[serde(default)]
    pub momentum: f64,
    /// SGD: Nesterov momentum.
    #[serde(default)]
    pub nesterov: bool,
    /// L2 penalty (SGD, Adam) or decoupled decay (AdamW).
    #[serde(default)]
    pub weight_decay: f64,
    /// Apply weight decay to batch-norm parameters and biases too. On by default, as
    /// PyTorch's optimisers (and He et al.'s recipe) decay every parameter; `false` exempts
    /// them, a common modern practice.
    #[serde(default = "yes")]
    pub decay_norm_and_bias: bool,
    /// Adam/AdamW: the decay rates of the first and second moment estimates.
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
    /// Adam/AdamW: added to the denominator.
    #[serde(default = "default_eps")]
    pub eps: f64,
}

fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f64 {
    1e-8
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    #[default]
    Constant,
    /// × gamma every `step_size` epochs.
    Step,
    /// × gamma at each epoch in `milestones`.
    MultiStep,
    /// Cosine from lr to `min_lr` over the run, per iteration.
    Cosine,
}

/// Learning-rate schedule, in epochs (converted to iterations), after an optional linear
/// warm-up from `warmup_start_factor · lr`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// `constant`, `step` (× gamma every `step_size` epochs), `multi-step` (× gamma at each of `milestones`) or `cosine` (to `min_lr`).
    #[serde(default)]
    pub kind: ScheduleKind,
    /// The factor of `step` and `multi-step`.
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    /// `step`: epochs between decays.
    #[serde(default)]
    pub step_size: usize,
    /// `multi-step`: the epochs (counted after the warm-up) at which the rate is multiplied by gamma.
    #[serde(default)]
    pub milestones: Vec<usize>,
    /// `cosine`: the rate at the end.
    #[serde(default)]
    pub min_lr: f64,
    /// Epochs of linear warm-up before the schedule (0: none).
    #[serde(default)]
    pub warmup_epochs: usize,
    /// The warm-up starts at this fraction of lr.
    #[serde(default = "default_warmup_start")]
    pub warmup_start_factor: f64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            kind: ScheduleKind::Constant,
            gamma: default_gamma(),
            step_size: 0,
            milestones: vec![],
            min_lr: 0.0,
            warmup_epochs: 0,
            warmup_start_factor: default_warmup_start(),
        }
    }
}

fn default_gamma() -> f64 {
    0.1
}
fn default_warmup_start() -> f64 {
    0.1
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Stop when the validation loss has not improved for this many epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping_patience: Option<usize>,
    /// Cross entropy with label smoothing ε (PyTorch's `label_smoothing`); the reported loss stays plain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_smoothing: Option<f64>,
    /// Weight of GoogLeNet's auxiliary losses (0.3 in the paper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux_weight: Option<f64>,
}

impl Recipe {
    /// Loads a built-in recipe or a `.toml` path, resolves `extends`, applies the overrides
    /// (every set in order, then every removal) and checks every value.
    pub fn resolve(name_or_path: &str, overrides: &[Override]) -> Result<Recipe> {
        let (name, mut table) = load_table(name_or_path, &mut BTreeSet::new())?;
        Override::apply_all(&mut table, overrides)?;
        Self::from_table(&name, table)
    }

    /// [`Recipe::resolve`] with `--set`-style `key=value` overrides (each parsed as
    /// [`Override`]'s `FromStr`).
    pub fn load(name_or_path: &str, sets: &[String]) -> Result<Recipe> {
        let overrides = sets
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<Override>>>()?;
        Self::resolve(name_or_path, &overrides)
    }

    /// Parses a resolved recipe (e.g. the `recipe.toml` of a run directory).
    pub fn from_toml(name: &str, text: &str) -> Result<Recipe> {
        Self::from_table(name, parse_table(name, text)?)
    }

    fn from_table(name: &str, mut table: toml::Table) -> Result<Recipe> {
        table.remove("name");
        let mut recipe: Recipe = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| RecipeError::Field {
                recipe: name.to_string(),
                key: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        recipe.name = name.to_string();
        recipe.validate()?;
        Ok(recipe)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot serialise: {e}"))
    }

    /// The input shape of the recipe's data (named datasets' own, or `data.shape`), after
    /// resizing and padding; known from the recipe alone (no data loaded).
    pub fn input_shape(&self) -> [usize; 3] {
        let d = &self.data;
        let [c, mut h, mut w] = d
            .dataset
            .catalog()
            .map(DatasetName::shape)
            .or(d.shape)
            .unwrap_or([3, 32, 32]);
        if let Some([rh, rw]) = d.resize {
            (h, w) = (rh, rw);
        }
        [c, h + 2 * d.pad, w + 2 * d.pad]
    }

    /// The number of classes of the recipe's data.
    pub fn class_count(&self) -> usize {
        if let Some(c) = &self.data.class_subset {
            return c.len();
        }
        match self.data.dataset {
            DatasetKind::Cifar100 => 100,
            DatasetKind::Synthetic | DatasetKind::Folder => self.data.classes.unwrap_or(10),
            _ => 10,
        }
    }

    /// The recipe's model config completed with its data's input shape and class count, known
    /// from the recipe alone (no data loaded); a `model.input` that differs from the data's is
    /// an error. Before a run starts, `run::model::config_for_data` checks the same against the
    /// loaded data (its shape and its classes).
    pub fn model_config(&self) -> anyhow::Result<ModelConfig> {
        let mut cfg = self.model.clone();
        let input = self.input_shape();
        if let Some(given) = cfg.input.filter(|i| *i != input) {
            anyhow::bail!("model.input {given:?} does not match the data's {input:?}");
        }
        cfg.input = Some(input);
        cfg.classes.get_or_insert(self.class_count());
        Ok(cfg)
    }

    /// First line of the description.
    pub fn summary_line(&self) -> &str {
        self.description.lines().next().unwrap_or("")
    }
}

/// The `[diagnostics]` section (what it measures: [`crate::record::diagnostics`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DiagnosticsConfig {
    /// Measure every this many optimizer steps; 0 turns the diagnostics off.
    pub every: usize,
    /// The healthy range of a weight tensor's update/parameter ratio.
    pub band: [f64; 2],
    /// Warn after this many measurements in a row outside the band (or below `vanishing`).
    pub patience: usize,
    /// A weight tensor's gradient norm below this counts as vanished.
    pub vanishing: f64,
    /// Images in the probe batch for the dead-unit fraction (from the validation split).
    pub probe: usize,
}

impl Default for DiagnosticsConfig {
    fn default() -> Self {
        Self {
            every: 50,
            band: [1e-4, 1e-2],
            patience: 3,
            vanishing: 1e-7,
            probe: 64,
        }
    }
}

impl DiagnosticsConfig {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// What is wrong with the section, by key.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let [lo, hi] = self.band;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo < hi) {
            return Err((
                "diagnostics.band",
                format!("must be [low, high] with 0 < low < high, got [{lo}, {hi}]"),
            ));
        }
        if self.patience == 0 {
            return Err(("diagnostics.patience", "must be at least 1".into()));
        }
        if !(self.vanishing.is_finite() && self.vanishing >= 0.0) {
            return Err((
                "diagnostics.vanishing",
                format!("must be a finite number ≥ 0, got {}", self.vanishing),
            ));
        }
        if self.probe == 0 {
            return Err(("diagnostics.probe", "must be at least 1".into()));
        }
        Ok(())
    }
}
