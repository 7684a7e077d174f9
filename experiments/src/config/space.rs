//! A search space: the TOML schema of `experiments/search/*.toml` (the recipe keys searched
//! and how each is sampled, then the stages, coarse to fine), parsed and checked; sampling a
//! key, and narrowing its range around the best trials of a stage.
//!
//! ```toml
//! seed = 0
//! [params."optimizer.lr"]
//! kind = "log-uniform"
//! low = 1e-3
//! high = 1.0
//! [params."optimizer.weight_decay"]
//! kind = "log-uniform"
//! low = 1e-6
//! high = 1e-2
//!
//! [[stages]]             # coarse: wide ranges, a short budget
//! trials = 16
//! epochs = 2
//! limit = 10000          # training images (optional)
//! rungs = [1]            # successive halving: compared after epoch 1, the best 1/eta go on
//! eta = 2
//! [[stages]]             # fine: ranges shrunk around the best `top` trials of the stage before
//! trials = 6
//! epochs = 5
//! top = 3
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The most trials one stage of a search may sample (each one is a run directory).
pub const MAX_TRIALS: usize = 10_000;

/// How one key is sampled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Param {
    LogUniform { low: f64, high: f64 },
    Uniform { low: f64, high: f64 },
    Int { low: i64, high: i64 },
    Choice { values: Vec<toml::Value> },
}

impl Param {
    /// Why the range is empty or backwards, if it is.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Param::LogUniform { low, high } if !(*low > 0.0 && low < high && high.is_finite()) => {
                Err(format!(
                    "log-uniform needs 0 < low < high, got {low} … {high}"
                ))
            }
            Param::Uniform { low, high }
                if !(low < high && low.is_finite() && high.is_finite()) =>
            {
                Err(format!("uniform needs low < high, got {low} … {high}"))
            }
            Param::Int { low, high } if low > high => {
                Err(format!("int needs low ≤ high, got {low} … {high}"))
            }
            Param::Choice { values } if values.is_empty() => {
                Err("choice needs at least one value".into())
            }
            _ => Ok(()),
        }
    }

    /// A value drawn from the range (floats to four significant digits).
    pub fn sample(&self, rng: &mut impl Rng) -> toml::Value {
        match self {
            Param::LogUniform { low, high } => {
                let (a, b) = (low.ln(), high.ln());
                toml::Value::Float(round_sig((a + (b - a) * rng.random::<f64>()).exp()))
            }
            Param::Uniform { low, high } => {
                toml::Value::Float(round_sig(low + (high - low) * rng.random::<f64>()))
            }
            Param::Int { low, high } => toml::Value::Integer(rng.random_range(*low..=*high)),
            Param::Choice { values } => values[rng.random_range(0..values.len())].clone(),
        }
    }

    /// The range narrowed around `best` (values this parameter took in the best trials):
    /// their span widened by half of itself on each side (at least a tenth of the old range),
    /// within the old range; a choice keeps the values the best trials took.
    pub fn shrink(&self, best: &[toml::Value]) -> Param {
        let floats: Vec<f64> = best
            .iter()
            .filter_map(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
            .collect();
        let narrow = |lo: f64, hi: f64, f: &dyn Fn(f64) -> f64| -> (f64, f64) {
            let t: Vec<f64> = floats.iter().map(|v| f(*v)).collect();
            let (a, b) = t
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            let pad = ((b - a) * 0.5).max((f(hi) - f(lo)) * 0.1);
            ((a - pad).max(f(lo)), (b + pad).min(f(hi)))
        };
        if floats.is_empty() && !matches!(self, Param::Choice { .. }) {
            return self.clone();
        }
        match self {
            Param::LogUniform { low, high } => {
                let (a, b) = narrow(*low, *high, &|v: f64| v.ln());
                Param::LogUniform {
                    low: round_sig(a.exp()),
                    high: round_sig(b.exp()),
                }
            }
            Param::Uniform { low, high } => {
                let (a, b) = narrow(*low, *high, &|v| v);
                Param::Uniform {
                    low: round_sig(a),
                    high: round_sig(b),
                }
            }
            Param::Int { low, high } => {
                let (a, b) = narrow(*low as f64, *high as f64, &|v| v);
                Param::Int {
                    low: a.floor() as i64,
                    high: b.ceil() as i64,
                }
            }
            Param::Choice { values } => {
                let kept: Vec<toml::Value> = values
                    .iter()
                    .filter(|v| best.contains(v))
                    .cloned()
                    .collect();
                Param::Choice {
                    values: if kept.is_empty() {
                        values.clone()
                    } else {
                        kept
                    },
                }
            }
        }
    }

    /// Whether the range is sampled on a log scale (and plotted on one).
    pub fn log(&self) -> bool {
        matches!(self, Param::LogUniform { .. })
    }

    /// The range as the stage header prints it: `log [a, b]`, `[a, b]`, `int [a, b]`, `{x, y}`.
    pub fn describe(&self) -> String {
        match self {
            Param::LogUniform { low, high } => format!("log [{low}, {high}]"),
            Param::Uniform { low, high } => format!("[{low}, {high}]"),
            Param::Int { low, high } => format!("int [{low}, {high}]"),
            Param::Choice { values } => format!(
                "{{{}}}",
                values
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// Four significant digits: recipes stay readable and a value prints as it is stored.
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let d = 3 - v.abs().log10().floor() as i32;
    let m = 10f64.powi(d);
    (v * m).round() / m
}

/// One stage of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub trials: usize,
    pub epochs: usize,
    /// Training images (before the validation split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Epochs after which the trials still running are compared (best validation accuracy so
    /// far) and only the best 1/`eta` go on.
    #[serde(default)]
    pub rungs: Vec<usize>,
    #[serde(default = "default_eta")]
    pub eta: f64,
    /// The next stage's ranges shrink around this many of this stage's best trials.
    #[serde(default = "default_top")]
    pub top: usize,
    /// Further overrides for this stage's trials.
    #[serde(default)]
    pub set: toml::Table,
}

fn default_eta() -> f64 {
    2.0
}
fn default_top() -> usize {
    3
}

/// A search space file: the keys searched and the stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Space {
    #[serde(default)]
    pub seed: u64,
    pub params: BTreeMap<String, Param>,
    pub stages: Vec<Stage>,
}

impl Space {
    /// Reads and checks a space file.
    pub fn load(path: &Path) -> Result<Space> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the search space {}", path.display()))?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses and checks a space's text; errors name `name` and the key at fault.
    pub fn parse(name: &str, text: &str) -> Result<Space> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("{name}: TOML syntax: {e}"))?;
        let space: Space = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| anyhow::anyhow!("{name}: `{}`: {}", e.path(), e.inner()))?;
        if space.params.is_empty() {
            bail!("{name}: `params`: name at least one recipe key to search");
        }
        for (k, p) in &space.params {
            p.check()
                .map_err(|m| anyhow::anyhow!("{name}: `params.{k}`: {m}"))?;
        }
        if space.stages.is_empty() {
            bail!("{name}: `stages`: give at least one stage");
        }
        for (i, s) in space.stages.iter().enumerate() {
            s.check(name, i)?;
        }
        Ok(space)
    }
}

impl Stage {
    /// Checks the counts, rungs, eta and top; errors name the space (`name`) and the stage's
    /// index (`i`).
    fn check(&self, name: &str, i: usize) -> Result<()> {
        if self.trials == 0 || self.epochs == 0 {
            bail!("{name}: `stages[{i}]`: trials and epochs must be at least 1");
        }
        if self.trials > MAX_TRIALS {
            bail!(
                "{name}: `stages[{i}].trials`: at most {MAX_TRIALS}, got {}",
                self.trials
            );
        }
        if let Some(r) = self.rungs.iter().find(|&&r| r == 0 || r >= self.epochs) {
            bail!(
                "{name}: `stages[{i}].rungs`: {r} is not between 1 and the stage's {} epochs",
                self.epochs
            );
        }
        if self.rungs.windows(2).any(|w| w[0] >= w[1]) {
            bail!("{name}: `stages[{i}].rungs`: must increase");
        }
        if self.eta.is_nan() || self.eta <= 1.0 {
            bail!("{name}: `stages[{i}].eta`: must be more than 1");
        }
        if self.top == 0 {
            bail!("{name}: `stages[{i}].top`: must be at least 1");
        }
        Ok(())
    }
}
