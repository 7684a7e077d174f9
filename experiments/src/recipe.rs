//! Training recipes: TOML data naming model, data, augmentation, optimiser, schedule,
//! regularisation, epochs, batch size and seed. A recipe may `extends` another; `--set
//! key=value` overrides any field; unknown keys and bad values are errors naming the key.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use convlab_datasets::AugmentConfig;
use convlab_models::ModelConfig;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Recipes shipped with convlab (experiments/recipes/*.toml), compiled into the binary.
pub const BUILTIN: &[(&str, &str)] = &[
    ("base-cifar", include_str!("../recipes/base-cifar.toml")),
    ("vgg-cifar", include_str!("../recipes/vgg-cifar.toml")),
    (
        "resnet20-cifar",
        include_str!("../recipes/resnet20-cifar.toml"),
    ),
    (
        "resnet56-cifar",
        include_str!("../recipes/resnet56-cifar.toml"),
    ),
    (
        "alexnet-cifar",
        include_str!("../recipes/alexnet-cifar.toml"),
    ),
    (
        "googlenet-cifar",
        include_str!("../recipes/googlenet-cifar.toml"),
    ),
    ("lenet-mnist", include_str!("../recipes/lenet-mnist.toml")),
    (
        "lenet-fashion",
        include_str!("../recipes/lenet-fashion.toml"),
    ),
    ("smoke", include_str!("../recipes/smoke.toml")),
];

#[derive(Debug, Error)]
pub enum RecipeError {
    #[error("unknown recipe `{name}`; known: {known} (or give a path to a .toml file)")]
    Unknown { name: String, known: String },
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("recipe `{recipe}`: TOML syntax: {message}")]
    Syntax { recipe: String, message: String },
    #[error("recipe `{recipe}`: `{key}`: {message}")]
    Field {
        recipe: String,
        key: String,
        message: String,
    },
    #[error("recipe `{recipe}`: `extends` forms a cycle through `{base}`")]
    Cycle { recipe: String, base: String },
    #[error("--set `{0}`: expected key=value, e.g. optimizer.lr=0.05")]
    Override(String),
}

type Result<T, E = RecipeError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Set from the file name; not written in recipes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub epochs: usize,
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
    /// Start from pretrained weights (see [`crate::transfer`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferConfig>,
    /// Training diagnostics (see [`crate::diagnostics`]): they observe the run, never change it.
    #[serde(default, skip_serializing_if = "DiagnosticsConfig::is_default")]
    pub diagnostics: DiagnosticsConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    Cifar10,
    Cifar100,
    Mnist,
    FashionMnist,
    Synthetic,
    Folder,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
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
    pub pad: usize,
    /// Resize every image to `[H, W]` (bilinear) before padding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<[usize; 2]>,
    /// Image folder root (`dataset = "folder"`), with `train/` and `test/` inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// `[C, H, W]` images are resized to (`folder`) or generated at (`synthetic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<[usize; 3]>,
    /// Synthetic data: training and test samples and classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_samples: Option<usize>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    Sgd,
    Adam,
    Adamw,
}

/// PyTorch semantics: SGD without dampening, Adam ε = 1e-8, coupled L2 for SGD/Adam and
/// decoupled decay for AdamW, weight decay on every parameter unless the recipe exempts
/// batch-norm parameters and biases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    pub kind: OptimizerKind,
    pub lr: f64,
    #[serde(default)]
    pub momentum: f64,
    #[serde(default)]
    pub nesterov: bool,
    #[serde(default)]
    pub weight_decay: f64,
    /// Apply weight decay to batch-norm parameters and biases too. On by default, as
    /// PyTorch's optimisers (and He et al.'s recipe) decay every parameter; `false` exempts
    /// them, a common modern practice.
    #[serde(default = "yes")]
    pub decay_norm_and_bias: bool,
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
    #[serde(default = "default_eps")]
    pub eps: f64,
}

fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f64 {
    1e-8
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    #[serde(default)]
    pub kind: ScheduleKind,
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    #[serde(default)]
    pub step_size: usize,
    #[serde(default)]
    pub milestones: Vec<usize>,
    #[serde(default)]
    pub min_lr: f64,
    #[serde(default)]
    pub warmup_epochs: usize,
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

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Stop when the validation loss has not improved for this many epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping_patience: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_smoothing: Option<f64>,
    /// Weight of GoogLeNet's auxiliary losses (0.3 in the paper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux_weight: Option<f64>,
}

fn find_builtin(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Recipe names for `convlab recipes` (bases that only exist to be extended included).
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// Reads a recipe's TOML by name (built-in) or path (`*.toml`).
fn source(name_or_path: &str) -> Result<(String, String, Option<PathBuf>)> {
    if name_or_path.ends_with(".toml") || name_or_path.contains('/') {
        let path = PathBuf::from(name_or_path);
        let text = std::fs::read_to_string(&path).map_err(|source| RecipeError::Read {
            path: path.clone(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok((name, text, path.parent().map(Path::to_path_buf)));
    }
    find_builtin(name_or_path)
        .map(|t| (name_or_path.to_string(), t.to_string(), None))
        .ok_or_else(|| RecipeError::Unknown {
            name: name_or_path.to_string(),
            known: builtin_names().join(", "),
        })
}

fn parse_table(recipe: &str, text: &str) -> Result<toml::Table> {
    text.parse::<toml::Table>()
        .map_err(|e| RecipeError::Syntax {
            recipe: recipe.to_string(),
            message: e.to_string(),
        })
}

/// Loads `name_or_path` with its `extends` chain merged (child over base), as a TOML table.
fn load_table(name_or_path: &str, seen: &mut BTreeSet<String>) -> Result<(String, toml::Table)> {
    let (name, text, dir) = source(name_or_path)?;
    let mut table = parse_table(&name, &text)?;
    if let Some(base) = table.remove("extends") {
        let base = base.as_str().ok_or_else(|| RecipeError::Field {
            recipe: name.clone(),
            key: "extends".into(),
            message: "expected the name of a recipe".into(),
        })?;
        if !seen.insert(base.to_string()) {
            return Err(RecipeError::Cycle {
                recipe: name,
                base: base.to_string(),
            });
        }
        // A path-based recipe may extend a sibling file.
        let base_ref = match &dir {
            Some(d) if d.join(format!("{base}.toml")).is_file() => d
                .join(format!("{base}.toml"))
                .to_string_lossy()
                .into_owned(),
            _ => base.to_string(),
        };
        let (_, mut merged) = load_table(&base_ref, seen)?;
        merge(&mut merged, table);
        table = merged;
    }
    Ok((name, table))
}

/// Deep merge: tables merge key by key, everything else is replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Removes `a.b.c` from a table, if present.
fn remove_key(table: &mut toml::Table, key: &str) {
    match key.split_once('.') {
        None => {
            table.remove(key);
        }
        Some((head, rest)) => {
            if let Some(toml::Value::Table(t)) = table.get_mut(head) {
                remove_key(t, rest);
            }
        }
    }
}

/// Applies one `key.path=value` override; the value is TOML (`0.05`, `true`, `[30, 60]`,
/// `"sgd"`) or else taken as a string.
pub fn apply_override(table: &mut toml::Table, spec: &str) -> Result<()> {
    let (key, raw) = spec
        .split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .ok_or_else(|| RecipeError::Override(spec.to_string()))?;
    let value = format!("v = {}", raw.trim())
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(RecipeError::Override(format!(
                    "{spec} (`{p}` is not a table)"
                )));
            }
        };
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

impl Recipe {
    /// Loads a built-in recipe or a `.toml` path, resolves `extends`, applies overrides and
    /// checks every value.
    pub fn load(name_or_path: &str, overrides: &[String]) -> Result<Recipe> {
        let (name, mut table) = load_table(name_or_path, &mut BTreeSet::new())?;
        for spec in overrides {
            apply_override(&mut table, spec)?;
        }
        Self::from_table(&name, table)
    }

    /// As [`Recipe::load`], then removes the optional keys named by `remove` (`key=...`
    /// specs; only the key counts).
    pub fn load_removing(
        name_or_path: &str,
        overrides: &[String],
        remove: &[String],
    ) -> Result<Recipe> {
        let (name, mut table) = load_table(name_or_path, &mut BTreeSet::new())?;
        for spec in overrides {
            apply_override(&mut table, spec)?;
        }
        for spec in remove {
            let key = spec.split_once('=').map_or(spec.as_str(), |(k, _)| k);
            remove_key(&mut table, key);
        }
        Self::from_table(&name, table)
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

    /// Checks every value (also after a resume changes `epochs`).
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, message: String| {
            Err(RecipeError::Field {
                recipe: self.name.clone(),
                key: key.to_string(),
                message,
            })
        };
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if let Some(t) = &self.transfer
            && let Err(message) = t.check()
        {
            return bad("transfer", message);
        }
        if let Err((key, message)) = self.diagnostics.check() {
            return bad(key, message);
        }
        let o = &self.optimizer;
        if !(o.lr.is_finite() && o.lr > 0.0) {
            return bad("optimizer.lr", format!("must be positive, got {}", o.lr));
        }
        if !(0.0..1.0).contains(&o.momentum) {
            return bad(
                "optimizer.momentum",
                format!("must be in [0, 1), got {}", o.momentum),
            );
        }
        if o.nesterov && o.momentum == 0.0 {
            return bad("optimizer.nesterov", "needs a positive momentum".into());
        }
        if !(o.weight_decay >= 0.0 && o.weight_decay.is_finite()) {
            return bad(
                "optimizer.weight_decay",
                format!("must be >= 0, got {}", o.weight_decay),
            );
        }
        if o.kind != OptimizerKind::Sgd && (o.momentum != 0.0 || o.nesterov) {
            return bad("optimizer.momentum", "applies to sgd only".into());
        }
        if o.eps.is_nan() || o.eps <= 0.0 || o.betas.iter().any(|b| !(0.0..1.0).contains(b)) {
            return bad(
                "optimizer.betas",
                "betas must be in [0, 1) and eps positive".into(),
            );
        }
        let s = &self.schedule;
        if !(s.gamma > 0.0 && s.gamma <= 1.0) {
            return bad(
                "schedule.gamma",
                format!("must be in (0, 1], got {}", s.gamma),
            );
        }
        if s.kind == ScheduleKind::Step && s.step_size == 0 {
            return bad(
                "schedule.step_size",
                "step schedule needs step_size >= 1 (epochs)".into(),
            );
        }
        if s.kind == ScheduleKind::MultiStep
            && (s.milestones.is_empty() || s.milestones.windows(2).any(|w| w[0] >= w[1]))
        {
            return bad(
                "schedule.milestones",
                "needs increasing epochs, e.g. [30, 60]".into(),
            );
        }
        if s.min_lr < 0.0 || s.min_lr > o.lr {
            return bad(
                "schedule.min_lr",
                format!("must be in [0, lr], got {}", s.min_lr),
            );
        }
        if s.warmup_epochs >= self.epochs && s.warmup_epochs > 0 {
            return bad(
                "schedule.warmup_epochs",
                "must be shorter than the run".into(),
            );
        }
        if !(s.warmup_start_factor > 0.0 && s.warmup_start_factor <= 1.0) {
            return bad("schedule.warmup_start_factor", "must be in (0, 1]".into());
        }
        let d = &self.data;
        if !(d.valid_fraction > 0.0 && d.valid_fraction < 1.0) {
            return bad(
                "data.valid_fraction",
                format!("must be in (0, 1), got {}", d.valid_fraction),
            );
        }
        match d.dataset {
            DatasetKind::Synthetic
                if d.samples.unwrap_or(0) == 0
                    || d.classes.unwrap_or(0) == 0
                    || d.shape.is_none() =>
            {
                return bad(
                    "data",
                    "synthetic data needs samples, classes and shape".into(),
                );
            }
            DatasetKind::Folder if d.path.is_none() || d.shape.is_none() => {
                return bad("data", "folder data needs path and shape".into());
            }
            _ => {}
        }
        if let Some(p) = self.train.label_smoothing
            && !(0.0..1.0).contains(&p)
        {
            return bad(
                "train.label_smoothing",
                format!("must be in [0, 1), got {p}"),
            );
        }
        self.model.resolve().map_err(|e| RecipeError::Field {
            recipe: self.name.clone(),
            key: "model".into(),
            message: e.to_string(),
        })?;
        Ok(())
    }

    /// First line of the description.
    pub fn summary_line(&self) -> &str {
        self.description.lines().next().unwrap_or("")
    }
}

/// The `[transfer]` section (what it does: [`crate::transfer`]): start from pretrained weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Regime {
    FeatureExtract,
    Partial,
    FineTune,
    Retrain,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferConfig {
    /// A weights file (`convlab import`) or a run directory (its best checkpoint). In an
    /// ablation suite, `suite:<suite>/<variant>` names a run of another suite (same budget,
    /// dataset and seed), resolved when the suite is planned.
    pub from: PathBuf,
    pub regime: Regime,
    /// `partial`: the first trainable module (a path prefix such as `net.stages.2` or
    /// `net.features.layers.8`; see `convlab summary`). Everything before it is frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainable_from: Option<String>,
    /// Copy only the first `layers` weight layers (a conv or linear layer with its bias and
    /// batch norm, in the order of `convlab summary`); the rest start fresh. With `partial` the
    /// copied layers are frozen (Yosinski et al.'s AnB/BnB), with `fine-tune` they train
    /// (AnB+/BnB+). 0 copies nothing: training from scratch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<usize>,
    /// Learning-rate multiplier for the pretrained parameters that train (`fine-tune`,
    /// `partial`); the new head trains at the recipe's rate.
    #[serde(default = "one")]
    pub lr_scale: f64,
}

fn one() -> f64 {
    1.0
}

impl TransferConfig {
    /// Checks the combination of keys (called when a recipe is read).
    pub fn check(&self) -> Result<(), String> {
        match (self.regime, &self.trainable_from, self.layers) {
            (Regime::Partial, None, None) => {
                return Err(
                    "`partial` needs `trainable_from` (the first trainable module) or `layers` (how many layers to copy and freeze)"
                        .into(),
                );
            }
            (Regime::Partial, Some(_), Some(_)) => {
                return Err("give `trainable_from` or `layers`, not both".into());
            }
            (r, Some(_), _) if r != Regime::Partial => {
                return Err("`trainable_from` applies to `partial` only".into());
            }
            (Regime::FeatureExtract | Regime::Retrain, _, Some(_)) => {
                return Err("`layers` applies to `partial` and `fine-tune`".into());
            }
            _ => {}
        }
        if !(self.lr_scale > 0.0 && self.lr_scale.is_finite()) {
            return Err(format!("lr_scale must be positive, got {}", self.lr_scale));
        }
        if self.lr_scale != 1.0 && matches!(self.regime, Regime::Retrain | Regime::FeatureExtract) {
            return Err("lr_scale applies to `fine-tune` and `partial`".into());
        }
        Ok(())
    }
}

/// The `[diagnostics]` section (what it measures: [`crate::diagnostics`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
