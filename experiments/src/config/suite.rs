//! Ablation suites as data: a TOML file in `experiments/ablations/` (compiled into the binary; a
//! path to any `.toml` works too) naming a base recipe, one or more axes of variants (each
//! value a set of recipe overrides), seeds, the metrics to report, budgets (how epochs and data
//! are cut for `smoke` and `short`; `full` is the base recipe as it is) and the published result
//! each variant is compared with. Unknown keys are errors that name the key. `exclude` drops
//! combinations of axis values; `{axis}` in a string value becomes the variant's value on that
//! axis; `transfer.from = "suite:<suite>/<variant>"` starts a run from another suite's run of
//! the same seed (resolved in [`crate::sweep::plan`]).
//!
//! ```toml
//! description = "Plain vs residual nets at 20/32/44/56 layers"
//! question = "Do deeper plain nets train worse, and do shortcuts fix it?"
//! base = "resnet20-cifar"
//! seeds = 2
//! baseline = "residual-20"
//! metrics = ["test_acc", "final_train_error"]
//!
//! [[axes]]
//! name = "shortcut"
//! values = [
//!   { name = "plain", set = { "model.shortcut" = "none" } },
//!   { name = "residual", set = { "model.shortcut" = "a" } },
//! ]
//!
//! [budgets.short]
//! epochs = 10
//! limit = 20000
//!
//! [published.residual-20]
//! value = 91.25
//! metric = "test_acc"
//! source = "He et al. 2015, Table 6 (8.75 % test error)"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::overrides::Override;

/// Suites shipped with convlab (experiments/ablations/*.toml).
pub const BUILTIN: &[(&str, &str)] = &[
    ("vgg-depth", include_str!("../../ablations/vgg-depth.toml")),
    ("residual", include_str!("../../ablations/residual.toml")),
    ("shortcut", include_str!("../../ablations/shortcut.toml")),
    ("batchnorm", include_str!("../../ablations/batchnorm.toml")),
    ("dropout", include_str!("../../ablations/dropout.toml")),
    ("lrn", include_str!("../../ablations/lrn.toml")),
    ("pooling", include_str!("../../ablations/pooling.toml")),
    (
        "activation",
        include_str!("../../ablations/activation.toml"),
    ),
    ("head", include_str!("../../ablations/head.toml")),
    ("stem", include_str!("../../ablations/stem.toml")),
    ("init", include_str!("../../ablations/init.toml")),
    (
        "augmentation",
        include_str!("../../ablations/augmentation.toml"),
    ),
    (
        "weight-decay",
        include_str!("../../ablations/weight-decay.toml"),
    ),
    ("optimizer", include_str!("../../ablations/optimizer.toml")),
    // The bases first: `transferability` starts from their runs.
    (
        "transfer-base",
        include_str!("../../ablations/transfer-base.toml"),
    ),
    (
        "transferability",
        include_str!("../../ablations/transferability.toml"),
    ),
];

#[derive(Debug, Error)]
pub enum SuiteError {
    #[error("unknown ablation suite `{name}`; known: {known} (or give a path to a .toml file)")]
    Unknown { name: String, known: String },
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("suite `{suite}`: `{key}`: {message}")]
    Field {
        suite: String,
        key: String,
        message: String,
    },
}

pub(crate) type Result<T, E = SuiteError> = std::result::Result<T, E>;

/// What a suite's summary reports (columns of `results.csv` besides the run's identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Top-1 on the test split of the best checkpoint (%).
    TestAcc,
    /// Top-1 test error (%).
    TestError,
    TestTop5,
    BestValidAcc,
    FinalValidAcc,
    /// Training loss (plain cross entropy) of the last epoch.
    FinalTrainLoss,
    /// 100 − training top-1 of the last epoch (%).
    FinalTrainError,
    WallTimeS,
    ImagesPerS,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::TestAcc => "test_acc",
            Metric::TestError => "test_error",
            Metric::TestTop5 => "test_top5",
            Metric::BestValidAcc => "best_valid_acc",
            Metric::FinalValidAcc => "final_valid_acc",
            Metric::FinalTrainLoss => "final_train_loss",
            Metric::FinalTrainError => "final_train_error",
            Metric::WallTimeS => "wall_time_s",
            Metric::ImagesPerS => "images_per_s",
        }
    }

    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        matches!(
            self,
            Metric::TestAcc
                | Metric::TestTop5
                | Metric::BestValidAcc
                | Metric::FinalValidAcc
                | Metric::ImagesPerS
        )
    }
}

/// Per-epoch quantities a target can be set on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Curve {
    ValidAcc,
    TrainAcc,
    /// 100 − train_acc.
    TrainError,
    ValidError,
}

impl Curve {
    pub fn name(self) -> &'static str {
        match self {
            Curve::ValidAcc => "valid_acc",
            Curve::TrainAcc => "train_acc",
            Curve::TrainError => "train_error",
            Curve::ValidError => "valid_error",
        }
    }

    /// Whether reaching the target means going below it (errors) or above (accuracies).
    pub fn falls(self) -> bool {
        matches!(self, Curve::TrainError | Curve::ValidError)
    }
}

/// "Epochs until `curve` reaches `value`" (e.g. Krizhevsky et al.'s 25 % training error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub curve: Curve,
    pub value: f64,
}

impl Target {
    /// The column name, e.g. `epochs_to_train_error_25`.
    pub fn column(&self) -> String {
        format!("epochs_to_{}_{}", self.curve.name(), self.value)
    }
}

/// One value of an axis: a name and the recipe overrides it applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisValue {
    pub name: String,
    #[serde(default)]
    pub set: toml::Table,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    pub name: String,
    pub values: Vec<AxisValue>,
}

/// How a budget cuts the base recipe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Training images (before the validation split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Variants left out at this budget, written like the suite's `exclude` (e.g. a medium
    /// budget that keeps the shallowest and the deepest net: `exclude = [{ depth = ["32", "44"] }]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<BTreeMap<String, OneOrMany>>,
    /// Seeds per variant at this budget (instead of the suite's `seeds`; `--seeds` beats both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<usize>,
    /// Further overrides (e.g. a smaller width).
    #[serde(default)]
    pub set: toml::Table,
}

/// A published result a variant is compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    pub value: f64,
    pub metric: Metric,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum BudgetName {
    /// Synthetic data at the base recipe's shape, one short epoch, small widths: seconds per
    /// run (CI runs every suite at this budget).
    Smoke,
    /// The suite's cut of the base recipe: fewer epochs, fewer images.
    Short,
    /// Long enough for the baseline to converge and the paper's effect to have room, with three
    /// seeds or more, sized to about 90 minutes on 2 CPU cores on Fashion-MNIST with `--jobs 2`
    /// (`--dry-run` estimates it on the machine at hand).
    Medium,
    /// The base recipe as it is (the paper's set-up).
    Full,
}

impl Suite {
    /// The suite as `budget` runs it: the budget's `exclude` added to the suite's.
    pub fn at_budget(self, budget: BudgetName) -> Suite {
        let more = self
            .budgets
            .get(budget.name())
            .map(|b| b.exclude.clone())
            .unwrap_or_default();
        self.with_exclusions(more)
    }

    /// The suite with `more` exclusions besides its own (each once).
    pub(crate) fn with_exclusions(mut self, more: Vec<BTreeMap<String, OneOrMany>>) -> Suite {
        for ex in more {
            if !self.exclude.contains(&ex) {
                self.exclude.push(ex);
            }
        }
        self
    }
}

impl BudgetName {
    pub const ALL: [BudgetName; 4] = [
        BudgetName::Smoke,
        BudgetName::Short,
        BudgetName::Medium,
        BudgetName::Full,
    ];

    /// The budget a `[budgets.<name>]` key (or a report's `budget` line) names.
    pub fn from_name(name: &str) -> Option<BudgetName> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The key of the suite's `[budgets.<name>]` table.
    pub fn name(self) -> &'static str {
        match self {
            BudgetName::Smoke => "smoke",
            BudgetName::Short => "short",
            BudgetName::Medium => "medium",
            BudgetName::Full => "full",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Set from the file name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub description: String,
    /// The question of the era the suite answers.
    pub question: String,
    /// Base recipe: a built-in name, or (for a suite read from a file) the name of a recipe file
    /// beside the suite, without `.toml`. Never a path: a suite must not make convlab read any
    /// file on the machine.
    pub base: String,
    /// Overrides of the base recipe shared by every variant (applied before the dataset's,
    /// the budget's and the variant's own).
    #[serde(default)]
    pub set: toml::Table,
    /// Seeds per variant (0, 1, …), unless `--seeds` says otherwise.
    #[serde(default = "default_seeds")]
    pub seeds: usize,
    pub axes: Vec<Axis>,
    /// The variant the others are compared with.
    pub baseline: String,
    /// Reported metrics; the first is the suite's primary one.
    pub metrics: Vec<Metric>,
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default)]
    pub budgets: BTreeMap<String, Budget>,
    /// Overrides applied when `--dataset` names a dataset (e.g. padding Fashion-MNIST's 28×28
    /// to the 32×32 a CIFAR net expects).
    #[serde(default)]
    pub datasets: BTreeMap<String, Budget>,
    #[serde(default)]
    pub published: BTreeMap<String, Published>,
    /// Combinations left out of the cartesian product: each entry names axes and the value (or
    /// values) that, all together, exclude a variant, e.g.
    /// `exclude = [{ kind = ["AnB", "AnB+"], layers = "0" }]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<BTreeMap<String, OneOrMany>>,
    /// The questions the suite answers: `[[comparisons]]` of variants with the paper's
    /// direction, expanded by [`crate::config::comparisons`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comparisons: Vec<Comparison>,
    /// Variants outside the grid, each a name and its overrides: equal-budget controls (e.g.
    /// scratch training as long as a transferred net's base and target training together).
    /// They have no axis values; comparisons and the summary name them like any variant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<AxisValue>,
    /// The folder of a suite read from a file (where `base` may name a sibling recipe).
    #[serde(skip)]
    pub dir: Option<PathBuf>,
}

/// A value name or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn names(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.names().contains(&name)
    }
}

/// One variant: its name (the axes' value names joined by `-`), each axis's value name, and its
/// overrides (`{axis}` in a string value replaced by the variant's value name on that axis).
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub name: String,
    /// Empty strings for a control (`[[controls]]`), which sits on no axis.
    pub values: Vec<String>,
    pub set: toml::Table,
}

fn default_seeds() -> usize {
    2
}

/// Names of the shipped suites.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

impl Suite {
    /// A shipped suite by name, or a `.toml` path.
    pub fn load(name_or_path: &str) -> Result<Suite> {
        let (name, text) = if name_or_path.ends_with(".toml") || name_or_path.contains('/') {
            let path = Path::new(name_or_path);
            let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut suite = Self::parse(&name, &text)?;
            suite.dir = path.parent().map(Path::to_path_buf);
            return Ok(suite);
        } else {
            let text = BUILTIN
                .iter()
                .find(|(n, _)| *n == name_or_path)
                .map(|(_, t)| t.to_string())
                .ok_or_else(|| SuiteError::Unknown {
                    name: name_or_path.to_string(),
                    known: builtin_names().join(", "),
                })?;
            (name_or_path.to_string(), text)
        };
        Self::parse(&name, &text)
    }

    pub fn parse(name: &str, text: &str) -> Result<Suite> {
        let field = |key: String, message: String| SuiteError::Field {
            suite: name.to_string(),
            key,
            message,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| field("(syntax)".into(), e.to_string()))?;
        let mut suite: Suite = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| field(e.path().to_string(), e.inner().to_string()))?;
        suite.name = name.to_string();
        suite.validate()?;
        Ok(suite)
    }

    /// What [`Recipe::resolve`](crate::config::recipe::Recipe::resolve) reads for `base`: the
    /// recipe file of that name beside the suite when there is one, else the built-in name.
    pub fn base_ref(&self) -> String {
        match &self.dir {
            Some(d) if d.join(format!("{}.toml", self.base)).is_file() => d
                .join(format!("{}.toml", self.base))
                .to_string_lossy()
                .into_owned(),
            _ => self.base.clone(),
        }
    }

    /// Every variant in axis order, less the excluded combinations.
    pub fn variant_list(&self) -> Vec<Variant> {
        let mut out: Vec<Vec<&AxisValue>> = vec![vec![]];
        for axis in &self.axes {
            out = out
                .into_iter()
                .flat_map(|chosen| {
                    axis.values.iter().map(move |v| {
                        let mut c = chosen.clone();
                        c.push(v);
                        c
                    })
                })
                .collect();
        }
        out.into_iter()
            .filter(|chosen| {
                !self.exclude.iter().any(|ex| {
                    ex.iter().all(|(axis, names)| {
                        self.axes
                            .iter()
                            .position(|a| &a.name == axis)
                            .is_some_and(|i| names.contains(&chosen[i].name))
                    })
                })
            })
            .map(|chosen| {
                let values: Vec<String> = chosen.iter().map(|v| v.name.clone()).collect();
                let mut set = toml::Table::new();
                for v in &chosen {
                    set.extend(v.set.clone());
                }
                for (_, value) in set.iter_mut() {
                    if let toml::Value::String(s) = value {
                        for (axis, name) in self.axes.iter().zip(&values) {
                            *s = s.replace(&format!("{{{}}}", axis.name), name);
                        }
                    }
                }
                Variant {
                    name: values.join("-"),
                    values,
                    set,
                }
            })
            .chain(self.controls.iter().map(|c| Variant {
                name: c.name.clone(),
                values: vec![String::new(); self.axes.len()],
                set: c.set.clone(),
            }))
            .collect()
    }

    /// Every variant in axis order: each one's name and overrides.
    pub fn variants(&self) -> Vec<(String, toml::Table)> {
        self.variant_list()
            .into_iter()
            .map(|v| (v.name, v.set))
            .collect()
    }

    pub fn variant_names(&self) -> Vec<String> {
        self.variants().into_iter().map(|(n, _)| n).collect()
    }

    /// One line for `convlab ablations`.
    pub fn summary_line(&self) -> String {
        format!(
            "{} ({} variants × {} seeds)",
            self.description,
            self.variants().len(),
            self.seeds
        )
    }
}

/// The overrides of a `set` table (`false` on an optional key removes it).
pub fn overrides(set: &toml::Table) -> Vec<Override> {
    Override::from_table(set)
}

/// `[[comparisons]]` in a suite file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// The variant (pattern) the claim is about, e.g. `residual-{depth}`.
    pub a: String,
    /// What it is compared with, e.g. `plain-{depth}`.
    pub b: String,
    /// The metric compared (the suite's primary one when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    /// What the paper reports for `a` against `b` on that metric.
    pub expect: Expect,
    /// Where the paper says so, e.g. "He et al. 2015, Fig. 6".
    pub source: String,
    /// The claim is about training speed: `a` against `b` after the same number of steps
    /// (ReLU reaches a training error sooner than tanh). Runs still improving at the end are
    /// what such a claim compares, so its verdict does not wait for them to converge; a claim
    /// about where training ends (the default) does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub speed: bool,
}

/// The direction a paper reports: `a`'s value lower or higher than `b`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Lower,
    Higher,
}
