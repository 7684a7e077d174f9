//! Training diagnostics, measured: every `diagnostics.every` optimizer steps, the model's
//! parameters and gradients just before the step and its parameters just after it give each
//! parameter tensor's update/parameter ratio and gradient norm, and a fixed probe batch from
//! the validation split gives each ReLU layer's dead units. The rows, their files, warnings
//! and picture are `record::diagnostics`'s; this module holds what needs the model.
//!
//! The measurement observes and never changes the run: the probe batch goes through the model
//! in evaluation mode (no batch-norm statistics move, no dropout draws), so a run with
//! diagnostics trains the same weights as one without.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use convlab_models::Model;

use crate::record::diagnostics::{self as files, DeadRow, DiagnosticsConfig, Monitor, ParamRow};

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
        let (mut params, mut dead) = files::read(dir)?;
        params.retain(|r| r.step <= offset);
        dead.retain(|r| r.step <= offset);
        let mut monitor = Monitor::default();
        let _ = files::warnings_into(&mut monitor, &cfg, &params);
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
        files::write(&self.dir, &s.params, &s.dead)
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
        files::picture(
            &self.dir.join(files::PICTURE),
            &self.title,
            &self.cfg,
            &s.params,
            &s.dead,
        )
    }
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
