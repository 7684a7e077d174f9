//! Training diagnostics on disk: the rows, the files and the warnings. The measurement itself
//! (the model's parameters and gradients around an optimizer step, every `diagnostics.every`
//! steps) is `run::diagnostics`; this module only knows what it produced:
//!
//! - for each parameter tensor, the update/parameter ratio ‖w_after − w_before‖/‖w_before‖ (the
//!   update the optimizer actually applied: learning rate, momentum and weight decay included)
//!   and the gradient norm;
//! - for each ReLU layer, the fraction of dead units (channels, or hidden units of the head,
//!   that output zero for every image of a fixed probe batch taken from the validation split).
//!
//! Files in the run directory: `diagnostics.csv` (one row per parameter tensor and
//! measurement), `dead-units.csv` (one row per ReLU layer and measurement) and
//! `diagnostics.png` (ratios, gradient norms and dead fractions over the steps). A warning line
//! is printed when a weight tensor's ratio stays outside `band` or its gradient norm stays
//! below `vanishing` for `patience` measurements in a row, and at once when its update is as
//! large as the weights (ratio ≥ 1, or not finite); [`warnings`] recomputes the same lines
//! from the CSV for the report.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

pub use crate::config::recipe::DiagnosticsConfig;

use crate::base::plot::{self, Panel};
use crate::record::rundir::{read_rows, write_rows};

/// One parameter tensor at one measurement (`diagnostics.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamRow {
    /// Optimizer steps taken, this one included (counted from the start of the run).
    pub step: usize,
    pub epoch: usize,
    /// Module path, e.g. `features.layers.0.conv.weight`.
    pub param: String,
    /// `6x1x5x5`.
    pub shape: String,
    pub weight_norm: f64,
    pub update_norm: f64,
    /// `update_norm / weight_norm` (infinite for a tensor that was all zeros, like a fresh bias).
    pub ratio: f64,
    pub grad_norm: f64,
}

impl ParamRow {
    /// Conv and linear weights (rank ≥ 2): the tensors the warnings watch. Biases and
    /// batch-norm vectors start at or near zero or one and their ratios mean little.
    pub fn is_weight(&self) -> bool {
        self.shape.contains('x')
    }
}

/// One ReLU layer at one measurement (`dead-units.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadRow {
    pub step: usize,
    pub epoch: usize,
    /// The layer's path in the model summary.
    pub layer: String,
    pub units: usize,
    /// Fraction of units that output zero for every probe image (at every position).
    pub dead_fraction: f64,
}

/// A warning about one weight tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub step: usize,
    pub epoch: usize,
    pub param: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} (epoch {}): {}: {}",
            self.step, self.epoch, self.param, self.message
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Zone {
    #[default]
    In,
    Below,
    Above,
}

#[derive(Debug, Default, Clone)]
struct Streak {
    zone: Zone,
    count: usize,
    warned: bool,
    vanished: usize,
    vanish_warned: bool,
}

/// Turns measurements into warnings: once per stretch of `patience` measurements in a row
/// outside the band (or with a vanished gradient), again only after the tensor came back.
#[derive(Debug, Clone, Default)]
pub struct Monitor {
    streaks: BTreeMap<String, Streak>,
}

fn sci(v: f64) -> String {
    format!("{v:.1e}")
}

impl Monitor {
    pub fn observe(&mut self, cfg: &DiagnosticsConfig, rows: &[ParamRow]) -> Vec<Warning> {
        let mut out = vec![];
        let [lo, hi] = cfg.band;
        for r in rows.iter().filter(|r| r.is_weight()) {
            let s = self.streaks.entry(r.param.clone()).or_default();
            let zone = if r.ratio.is_nan() || r.ratio > hi {
                Zone::Above
            } else if r.ratio < lo {
                Zone::Below
            } else {
                Zone::In
            };
            if zone != s.zone {
                *s = Streak {
                    zone,
                    count: 0,
                    warned: false,
                    ..s.clone()
                };
            }
            s.count += 1;
            // An update as large as the weights themselves (or a non-finite one) is not
            // waited for: the run is about to diverge.
            let blowing_up = zone == Zone::Above && (r.ratio.is_nan() || r.ratio >= 1.0);
            if zone != Zone::In && (s.count >= cfg.patience || blowing_up) && !s.warned {
                s.warned = true;
                let (side, hint) = match zone {
                    Zone::Above => ("above", "the learning rate may be too high"),
                    _ if r.grad_norm < cfg.vanishing => ("below", "its gradient vanished"),
                    _ => ("below", "the learning rate may be too low"),
                };
                let message = if blowing_up {
                    format!(
                        "update/parameter ratio {} above the band [{}, {}]: the update is as large as the weights (the learning rate is far too high)",
                        sci(r.ratio),
                        sci(lo),
                        sci(hi)
                    )
                } else {
                    format!(
                        "update/parameter ratio {} {side} the band [{}, {}] for {} measurements in a row ({hint})",
                        sci(r.ratio),
                        sci(lo),
                        sci(hi),
                        s.count
                    )
                };
                out.push(Warning {
                    step: r.step,
                    epoch: r.epoch,
                    param: r.param.clone(),
                    message,
                });
            }
            if r.grad_norm < cfg.vanishing {
                s.vanished += 1;
                if s.vanished >= cfg.patience && !s.vanish_warned {
                    s.vanish_warned = true;
                    out.push(Warning {
                        step: r.step,
                        epoch: r.epoch,
                        param: r.param.clone(),
                        message: format!(
                            "gradient norm {} below {} for {} measurements in a row (vanishing gradient)",
                            sci(r.grad_norm),
                            sci(cfg.vanishing),
                            s.vanished
                        ),
                    });
                }
            } else {
                s.vanished = 0;
                s.vanish_warned = false;
            }
        }
        out
    }
}

/// The warnings a run's `diagnostics.csv` gives under `cfg`, in order.
pub fn warnings(cfg: &DiagnosticsConfig, rows: &[ParamRow]) -> Vec<Warning> {
    warnings_into(&mut Monitor::default(), cfg, rows)
}

/// Feeds `rows` (in step order) to `m` one measurement at a time, returning the warnings in
/// order; a resumed run replays its kept rows through this to pick up its streaks.
pub fn warnings_into(m: &mut Monitor, cfg: &DiagnosticsConfig, rows: &[ParamRow]) -> Vec<Warning> {
    let mut out = vec![];
    let mut start = 0;
    while start < rows.len() {
        let step = rows[start].step;
        let end = start + rows[start..].iter().take_while(|r| r.step == step).count();
        out.extend(m.observe(cfg, &rows[start..end]));
        start = end;
    }
    out
}

pub const PARAMS_CSV: &str = "diagnostics.csv";
pub const DEAD_CSV: &str = "dead-units.csv";
pub const PICTURE: &str = "diagnostics.png";

/// A run directory's diagnostics (empty when it has none).
pub fn read(dir: &Path) -> Result<(Vec<ParamRow>, Vec<DeadRow>)> {
    Ok((
        read_rows(&dir.join(PARAMS_CSV))?,
        read_rows(&dir.join(DEAD_CSV))?,
    ))
}

/// Writes the rows of a run's diagnostics into `dir` (both files, whole, each time).
pub fn write(dir: &Path, params: &[ParamRow], dead: &[DeadRow]) -> Result<()> {
    write_rows(&dir.join(PARAMS_CSV), params, None)?;
    Ok(write_rows(&dir.join(DEAD_CSV), dead, None)?)
}

/// Named series of (x, y) points, as a chart panel takes them.
type Series = Vec<(String, Vec<(f64, f64)>)>;

/// `diagnostics.png`: log10 of the update/parameter ratio of each weight tensor with the band,
/// log10 of the gradient norms, and the dead-unit fraction of each ReLU layer, over the steps.
pub fn picture(
    path: &Path,
    title: &str,
    cfg: &DiagnosticsConfig,
    params: &[ParamRow],
    dead: &[DeadRow],
) -> Result<()> {
    let (mut ratio_series, grad_series) = weight_series(params);
    ratio_series.extend(band_lines(cfg, params));
    let ratio_title = format!("{title}: log10 ‖Δw‖/‖w‖ per weight");
    let panels = [
        Panel {
            title: &ratio_title,
            x_label: "step",
            y_label: "log10 update / parameter",
            series: ratio_series,
            log_x: false,
            errors: vec![],
        },
        Panel {
            title: "log10 gradient norm",
            x_label: "step",
            y_label: "log10 ‖g‖",
            series: grad_series,
            log_x: false,
            errors: vec![],
        },
        Panel {
            title: "dead ReLU units (probe batch)",
            x_label: "step",
            y_label: "% of units",
            series: dead_series(dead),
            log_x: false,
            errors: vec![],
        },
    ];
    crate::record::pictures::atomically(path, |tmp| plot::lines(tmp, &panels, (1800, 500)))
}

/// Per weight tensor, in the order they first appear and under their legend names: log10 of
/// the update/parameter ratio and log10 of the gradient norm over the steps.
fn weight_series(params: &[ParamRow]) -> (Series, Series) {
    let mut ratios: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    let mut grads: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    let mut order: Vec<&str> = vec![];
    for r in params.iter().filter(|r| r.is_weight()) {
        if !ratios.contains_key(r.param.as_str()) {
            order.push(&r.param);
        }
        ratios
            .entry(&r.param)
            .or_default()
            .push((r.step as f64, r.ratio.log10()));
        grads
            .entry(&r.param)
            .or_default()
            .push((r.step as f64, r.grad_norm.log10()));
    }
    let series = |m: &BTreeMap<&str, Vec<(f64, f64)>>| -> Series {
        order.iter().map(|p| (short(p), m[p].clone())).collect()
    };
    (series(&ratios), series(&grads))
}

/// The band's edges (log10) as two flat lines across the measured steps; none before the
/// first measurement. The second name's trailing space keeps the legend entries apart.
fn band_lines(cfg: &DiagnosticsConfig, params: &[ParamRow]) -> Series {
    let steps: Vec<f64> = params.iter().map(|r| r.step as f64).collect();
    let (first, last) = (
        steps.iter().cloned().fold(f64::INFINITY, f64::min),
        steps.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
    );
    if !first.is_finite() {
        return vec![];
    }
    [("band", cfg.band[0]), ("band ", cfg.band[1])]
        .into_iter()
        .map(|(name, v)| {
            (
                name.to_string(),
                vec![(first, v.log10()), (last, v.log10())],
            )
        })
        .collect()
}

/// Per ReLU layer, in the order they first appear: the percentage of dead units over the steps.
fn dead_series(dead: &[DeadRow]) -> Series {
    let mut layers: Vec<&str> = vec![];
    let mut dead_by: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for r in dead {
        if !dead_by.contains_key(r.layer.as_str()) {
            layers.push(&r.layer);
        }
        dead_by
            .entry(&r.layer)
            .or_default()
            .push((r.step as f64, 100.0 * r.dead_fraction));
    }
    layers
        .iter()
        .map(|l| (l.to_string(), dead_by[l].clone()))
        .collect()
}

/// `features.layers.3.conv.weight` → `features.3.conv.weight` (legend space).
fn short(param: &str) -> String {
    param.replace(".layers.", ".")
}
