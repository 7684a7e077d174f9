//! The `[transfer]` section of a recipe: where the weights come from (a path, or another
//! suite's run), the regime, which layers are copied or frozen, and the rate of the copied ones.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The `[transfer]` section (what it does: [`crate::run::transfer`]): start from pretrained weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Regime {
    FeatureExtract,
    Partial,
    FineTune,
    Retrain,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferConfig {
    /// A weights file (`convlab import`) or a run directory (its best checkpoint). In an
    /// ablation suite, `suite:<suite>/<variant>` names a run of another suite (same budget,
    /// dataset and seed), resolved when the suite is planned.
    pub from: TransferSource,
    /// `feature-extract` (train only a new head), `partial` (freeze up to `trainable_from` or the first `layers`), `fine-tune` (train everything, pretrained parts at lr × `lr_scale`) or `retrain` (the architecture from scratch).
    pub regime: Regime,
    /// `partial`: the first trainable module, a path prefix as `convlab summary` prints it
    /// (`stages.2`, `features.layers.8`; a leading `net.` is accepted too). Everything before
    /// it is frozen.
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

/// Where a transfer's weights come from (`transfer.from`), written as one string in TOML.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferSource {
    /// A weights file (`convlab import`) or a run directory (its best checkpoint).
    Path(PathBuf),
    /// `suite:<suite>/<variant>`: that variant's run of another suite, for the same seed,
    /// budget and dataset. Only the planner of a suite resolves it, into that run's directory;
    /// while it hashes a run's identity the reference carries the other run's `id`
    /// (`suite:<suite>/<variant>@<id>`), so a new source run makes a new identity.
    SuiteRun {
        suite: String,
        variant: String,
        id: Option<String>,
    },
}

impl TransferSource {
    /// The prefix of a reference to another suite's run.
    pub const SUITE_PREFIX: &str = "suite:";

    /// The weights' path; a suite reference has none until a suite's planner resolves it.
    pub fn path(&self) -> Result<&Path, String> {
        match self {
            TransferSource::Path(p) => Ok(p),
            TransferSource::SuiteRun { .. } => Err(format!(
                "`{self}` names another suite's run, which only `convlab ablate` resolves (in a suite's `set`)"
            )),
        }
    }
}

impl std::fmt::Display for TransferSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransferSource::Path(p) => write!(f, "{}", p.display()),
            TransferSource::SuiteRun { suite, variant, id } => {
                write!(f, "{}{suite}/{variant}", Self::SUITE_PREFIX)?;
                match id {
                    Some(id) => write!(f, "@{id}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::str::FromStr for TransferSource {
    type Err = String;

    /// `suite:<suite>/<variant>[@<id>]` (the suite may be a path to a `.toml`), else a path.
    fn from_str(s: &str) -> Result<Self, String> {
        let Some(reference) = s.strip_prefix(Self::SUITE_PREFIX) else {
            return Ok(TransferSource::Path(PathBuf::from(s)));
        };
        let (reference, id) = match reference.split_once('@') {
            Some((r, id)) => (r, Some(id.to_string())),
            None => (reference, None),
        };
        let (suite, variant) = reference
            .rsplit_once('/')
            .filter(|(s, v)| !s.is_empty() && !v.is_empty())
            .ok_or_else(|| format!("`{s}`: expected `{}<suite>/<variant>`", Self::SUITE_PREFIX))?;
        Ok(TransferSource::SuiteRun {
            suite: suite.to_string(),
            variant: variant.to_string(),
            id,
        })
    }
}

/// One string: a path, or `suite:<suite>/<variant>` (for the recipe key reference).
impl schemars::JsonSchema for TransferSource {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TransferSource".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

impl Serialize for TransferSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            TransferSource::Path(p) => p.serialize(s),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for TransferSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
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
