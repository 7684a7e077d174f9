//! Training diagnostics: every `diagnostics.every` optimizer steps, for each parameter tensor
//! the update/parameter ratio ‖w_after − w_before‖/‖w_before‖ (the update the optimizer
//! actually applied: learning rate, momentum and weight decay included) and the gradient norm,
//! and for each ReLU layer the fraction of dead units (channels, or hidden units of the head,
//! that output zero for every image of a fixed probe batch taken from the validation split).
//!
//! They observe and never change the run: the probe batch goes through the model in evaluation
//! mode (no batch-norm statistics move, no dropout draws), so a run with diagnostics trains the
//! same weights as one without.
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
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use convlab_models::Model;
use serde::{Deserialize, Serialize};

pub use crate::recipe::DiagnosticsConfig;

use crate::plot::{self, Panel};
use crate::rundir::{read_rows, write_rows};

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

/// `diagnostics.png`: log10 of the update/parameter ratio of each weight tensor with the band,
/// log10 of the gradient norms, and the dead-unit fraction of each ReLU layer, over the steps.
pub fn picture(
    path: &Path,
    title: &str,
    cfg: &DiagnosticsConfig,
    params: &[ParamRow],
    dead: &[DeadRow],
) -> Result<()> {
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
    let series = |m: &BTreeMap<&str, Vec<(f64, f64)>>| -> Vec<(String, Vec<(f64, f64)>)> {
        order.iter().map(|p| (short(p), m[p].clone())).collect()
    };
    let steps: Vec<f64> = params.iter().map(|r| r.step as f64).collect();
    let (first, last) = (
        steps.iter().cloned().fold(f64::INFINITY, f64::min),
        steps.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
    );
    let mut ratio_series = series(&ratios);
    if first.is_finite() {
        for (name, v) in [("band", cfg.band[0]), ("band ", cfg.band[1])] {
            ratio_series.push((name.into(), vec![(first, v.log10()), (last, v.log10())]));
        }
    }
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
    let ratio_title = format!("{title}: log10 ‖Δw‖/‖w‖ per weight");
    let panels = [
        Panel {
            title: &ratio_title,
            x_label: "step",
            y_label: "log10 update / parameter",
            series: ratio_series,
            log_x: false,
        },
        Panel {
            title: "log10 gradient norm",
            x_label: "step",
            y_label: "log10 ‖g‖",
            series: series(&grads),
            log_x: false,
        },
        Panel {
            title: "dead ReLU units (probe batch)",
            x_label: "step",
            y_label: "% of units",
            series: layers
                .iter()
                .map(|l| (l.to_string(), dead_by[l].clone()))
                .collect(),
            log_x: false,
        },
    ];
    crate::pictures::atomically(path, |tmp| plot::lines(tmp, &panels, (1800, 500)))
}

/// `features.layers.3.conv.weight` → `features.3.conv.weight` (legend space).
fn short(param: &str) -> String {
    param.replace(".layers.", ".")
}

/// Every float parameter of a model by path (enum variants left out, as burn-store names
/// them), flattened, with its gradient when `grads` has one.
struct Collect<'a> {
    stack: Vec<(String, bool)>,
    grads: Option<&'a GradientsParams>,
    out: Vec<Collected>,
}

/// Parameters and gradients taken before an optimizer step ([`Diagnostics::before`]).
pub struct Before(Vec<Collected>, std::time::Instant);

struct Collected {
    path: String,
    id: ParamId,
    shape: Vec<usize>,
    value: Tensor<1>,
    grad: Option<Tensor<1>>,
}

fn flat<const D: usize>(t: Tensor<D>) -> Tensor<1> {
    let n = t.shape().num_elements();
    t.reshape([n])
}

impl ModuleVisitor for Collect<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack
            .push((name.to_string(), container_type.starts_with("Enum:")));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path: Vec<&str> = self
            .stack
            .iter()
            .filter(|(_, variant)| !variant)
            .map(|(n, _)| n.as_str())
            .collect();
        let value = param.val().without_autodiff();
        self.out.push(Collected {
            path: path.join("."),
            id: param.id,
            shape: value.dims().to_vec(),
            value: flat(value),
            grad: self
                .grads
                .and_then(|g| g.get::<D>(param.id))
                .map(|g| flat(g.without_autodiff())),
        });
    }
}

fn collect(model: &Model, grads: Option<&GradientsParams>) -> Vec<Collected> {
    let mut v = Collect {
        stack: vec![],
        grads,
        out: vec![],
    };
    model.visit(&mut v);
    v.out
}

struct State {
    params: Vec<ParamRow>,
    dead: Vec<DeadRow>,
    monitor: Monitor,
    drawn_epoch: usize,
    /// The first error writing the files (reported once; training goes on).
    failed: bool,
    /// Measurements taken in this process and the time they took (their cost).
    taken: usize,
    spent: std::time::Duration,
}

/// The live diagnostics of a training run, shared by the training step (which measures) and
/// the session (which draws the last picture). Cloning shares the state.
#[derive(Clone)]
pub struct Diagnostics {
    cfg: DiagnosticsConfig,
    dir: PathBuf,
    title: String,
    iters_per_epoch: usize,
    /// Steps taken before this process started (a resumed run).
    offset: usize,
    probe: Option<Tensor<4>>,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Diagnostics(every {})", self.cfg.every)
    }
}

impl Diagnostics {
    /// Diagnostics writing into `dir`; a resumed run (`offset` steps already taken) keeps the
    /// measurements up to its checkpoint and drops the later ones.
    pub fn new(
        cfg: DiagnosticsConfig,
        dir: &Path,
        title: &str,
        iters_per_epoch: usize,
        offset: usize,
        probe: Option<Tensor<4>>,
    ) -> Result<Self> {
        let (mut params, mut dead) = read(dir)?;
        params.retain(|r| r.step <= offset);
        dead.retain(|r| r.step <= offset);
        let mut monitor = Monitor::default();
        let _ = warnings_into(&mut monitor, &cfg, &params);
        let d = Self {
            cfg,
            dir: dir.to_path_buf(),
            title: title.to_string(),
            iters_per_epoch: iters_per_epoch.max(1),
            offset,
            probe,
            state: Arc::new(Mutex::new(State {
                drawn_epoch: params.last().map_or(0, |r| r.epoch),
                params,
                dead,
                monitor,
                failed: false,
                taken: 0,
                spent: std::time::Duration::ZERO,
            })),
        };
        if offset > 0 {
            d.write()?;
        }
        Ok(d)
    }

    /// Whether the step `steps_in_process` (1-based, counted in this process) is measured.
    pub fn due(&self, steps_in_process: usize) -> Option<usize> {
        let step = self.offset + steps_in_process;
        (self.cfg.every > 0 && step.is_multiple_of(self.cfg.every)).then_some(step)
    }

    /// The parameters of `model` and their gradients, before the optimizer step.
    pub fn before(&self, model: &Model, grads: &GradientsParams) -> Before {
        Before(collect(model, Some(grads)), std::time::Instant::now())
    }

    /// Measures step `step`: the parameters `before` the optimizer step and `after` it.
    pub fn measure(&self, step: usize, before: Before, after: &Model) {
        let started = before.1;
        let result = self.try_measure(step, before.0, after);
        {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.taken += 1;
            // The optimizer step itself is inside this span; it is part of any step.
            s.spent += started.elapsed();
        }
        if let Err(e) = result {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if !s.failed {
                s.failed = true;
                eprintln!("warning: diagnostics stopped at step {step}: {e:#}");
            }
        }
    }

    fn try_measure(&self, step: usize, before: Vec<Collected>, after: &Model) -> Result<()> {
        let epoch = (step - 1) / self.iters_per_epoch + 1;
        let updated: BTreeMap<ParamId, Tensor<1>> = collect(after, None)
            .into_iter()
            .map(|c| (c.id, c.value))
            .collect();
        let mut sums = vec![];
        let mut measured = vec![];
        for c in before {
            let (Some(g), Some(w1)) = (c.grad, updated.get(&c.id)) else {
                continue; // frozen, or a buffer (batch-norm statistics)
            };
            sums.push(c.value.clone().powi_scalar(2).sum());
            sums.push((w1.clone() - c.value).powi_scalar(2).sum());
            sums.push(g.powi_scalar(2).sum());
            measured.push((c.path, c.shape));
        }
        let mut rows = vec![];
        if !sums.is_empty() {
            let values = Tensor::cat(sums, 0)
                .into_data()
                .convert::<f64>()
                .try_into_vec::<f64>()
                .map_err(|e| anyhow::anyhow!("reading the norms: {e:?}"))?;
            for ((param, shape), v) in measured.into_iter().zip(values.chunks_exact(3)) {
                let (w, u, g) = (v[0].sqrt(), v[1].sqrt(), v[2].sqrt());
                rows.push(ParamRow {
                    step,
                    epoch,
                    param: short_path(&param),
                    shape: shape
                        .iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join("x"),
                    weight_norm: w,
                    update_norm: u,
                    ratio: if w > 0.0 { u / w } else { f64::INFINITY },
                    grad_norm: g,
                });
            }
        }
        let dead = match &self.probe {
            Some(probe) => dead_units(&after.valid(), probe.clone(), step, epoch)?,
            None => vec![],
        };
        let new_warnings = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let w = s.monitor.observe(&self.cfg, &rows);
            s.params.extend(rows);
            s.dead.extend(dead);
            w
        };
        for w in new_warnings {
            eprintln!("warning: {w}");
        }
        self.write()?;
        let draw = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let d = s.drawn_epoch != epoch;
            s.drawn_epoch = epoch;
            d
        };
        if draw {
            self.draw()?;
        }
        Ok(())
    }

    fn write(&self) -> Result<()> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        write_rows(&self.dir.join(PARAMS_CSV), &s.params, None)?;
        Ok(write_rows(&self.dir.join(DEAD_CSV), &s.dead, None)?)
    }

    /// Measurements taken in this process, and the seconds from the start of each one's
    /// collection to the end of its files (the optimizer step in between included).
    pub fn cost(&self) -> (usize, f64) {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (s.taken, s.spent.as_secs_f64())
    }

    /// Redraws `diagnostics.png` (each new epoch, and at the end of the run).
    pub fn draw(&self) -> Result<()> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.params.is_empty() && s.dead.is_empty() {
            return Ok(());
        }
        picture(
            &self.dir.join(PICTURE),
            &self.title,
            &self.cfg,
            &s.params,
            &s.dead,
        )
    }
}

fn warnings_into(m: &mut Monitor, cfg: &DiagnosticsConfig, rows: &[ParamRow]) -> Vec<Warning> {
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

/// `net.features.layers.0.conv.weight` → `features.layers.0.conv.weight`.
fn short_path(path: &str) -> String {
    path.strip_prefix("net.").unwrap_or(path).to_string()
}

/// The dead-unit fraction of each ReLU layer of `model` (on a plain device, evaluation mode)
/// on `probe`.
pub fn dead_units(
    model: &Model,
    probe: Tensor<4>,
    step: usize,
    epoch: usize,
) -> Result<Vec<DeadRow>> {
    let (_, outputs) = model.relu_outputs(probe);
    if outputs.is_empty() {
        return Ok(vec![]);
    }
    let mut counts = vec![];
    let mut names = vec![];
    for o in outputs {
        let [n, c, h, w] = o.output.dims();
        let peak = o
            .output
            .swap_dims(0, 1)
            .reshape([c, n * h * w])
            .max_dim(1)
            .reshape([c]);
        counts.push(peak.lower_equal_elem(0.0).float().sum());
        names.push((o.layer, c));
    }
    let dead = Tensor::cat(counts, 0)
        .into_data()
        .convert::<f64>()
        .try_into_vec::<f64>()
        .map_err(|e| anyhow::anyhow!("reading the dead units: {e:?}"))?;
    Ok(names
        .into_iter()
        .zip(dead)
        .map(|((layer, units), d)| DeadRow {
            step,
            epoch,
            layer,
            units,
            dead_fraction: d / units as f64,
        })
        .collect())
}
