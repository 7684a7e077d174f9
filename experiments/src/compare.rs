//! Backend comparison: the same weights (made once on flex, copied to each backend) and the
//! same batch; differences of logits, of every parameter's gradient and of the loss after N
//! optimizer steps against the first backend, and milliseconds per training step.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Distribution, Gradients, Int, Tensor, TensorData};
use convlab_blocks::is_buffer;
use convlab_models::{Arch, Model, ModelConfig};
use serde::Serialize;

use crate::backend::{Backend, select};

/// Documented agreement bounds, relative to the reference's magnitude (max |value|, at least 1).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Tolerance {
    pub logits: f64,
    pub grads: f64,
    pub loss_after_steps: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        // f32 kernels sum in different orders: ~1e-7 relative per op, amplified by depth.
        // Backward passes amplify more (batch norm divides by per-channel standard deviations,
        // which are small in narrow test models), and N SGD steps compound it.
        Self {
            logits: 1e-4,
            grads: 1e-2,
            loss_after_steps: 1e-2,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CompareConfig {
    pub models: Vec<ModelConfig>,
    pub backends: Vec<Backend>,
    pub steps: usize,
    pub batch: usize,
    /// Learning rate of the SGD steps (momentum 0.9).
    pub lr: f64,
    pub seed: u64,
    pub tolerance: Tolerance,
}

/// The default comparison set, also the parity tests' set: one or more width-reduced models
/// per family at inputs small enough for a software Vulkan driver.
pub fn default_models() -> Vec<ModelConfig> {
    let tiny = |arch: Arch, width: f64, input: Option<[usize; 3]>| {
        let mut m = ModelConfig::new(arch).with_width(width).with_classes(10);
        if ModelConfig::applicable_knobs(arch).contains(&"dropout") {
            m = m.with_dropout(0.0);
        }
        m.input = input;
        m
    };
    vec![
        ModelConfig::new(Arch::LeNet5),
        tiny(Arch::AlexNetCifar, 0.125, None),
        tiny(Arch::AlexNet2012, 0.0625, Some([3, 67, 67])).with_groups(2),
        tiny(Arch::ZfNet, 0.0625, Some([3, 64, 64])),
        tiny(Arch::Vgg11BnCifar, 0.125, None),
        tiny(Arch::Vgg11, 0.0625, Some([3, 32, 32])),
        tiny(Arch::GoogLeNetCifar, 0.0625, Some([3, 16, 16])).with_aux_heads(true),
        tiny(Arch::ResNet20, 0.25, Some([3, 16, 16])),
        tiny(Arch::Plain20, 0.25, Some([3, 16, 16])),
        tiny(Arch::ResNet18, 0.125, Some([3, 64, 64])),
    ]
}

/// One model on one backend, against the reference backend (the first one).
#[derive(Debug, Clone, Serialize)]
pub struct CompareRow {
    pub arch: String,
    pub backend: String,
    pub device: String,
    pub logits_abs: f64,
    pub logits_rel: f64,
    pub grad_abs: f64,
    pub grad_rel: f64,
    /// Parameter whose gradient differs most.
    pub worst_param: String,
    pub loss_first: f64,
    pub loss_after_steps: f64,
    pub loss_rel: f64,
    /// Largest relative difference of the loss over the whole trajectory.
    pub trajectory_rel: f64,
    pub ms_per_step: f64,
    pub within_tolerance: bool,
}

struct Run {
    logits: Vec<f32>,
    grads: BTreeMap<String, Vec<f32>>,
    losses: Vec<f64>,
    ms_per_step: f64,
}

struct GradCollector<'a> {
    grads: &'a Gradients,
    path: Vec<String>,
    out: BTreeMap<String, Vec<f32>>,
}

impl ModuleVisitor for GradCollector<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if is_buffer(&self.path) {
            return;
        }
        let values = param
            .val()
            .grad(self.grads)
            .and_then(|g| g.into_data().convert::<f32>().try_to_vec::<f32>().ok())
            .unwrap_or_default();
        self.out.insert(self.path.join("."), values);
    }
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| anyhow!("reading a tensor: {e:?}"))
}

fn run_on(
    model: &Model,
    x: &TensorData,
    y: &TensorData,
    device: &Device,
    steps: usize,
    lr: f64,
) -> Result<Run> {
    let ad = device.clone().autodiff();
    // Plain-device copy, then `train()` wraps every parameter for autodiff on this backend.
    let mut m = model.clone().to_device(device).train();
    let images = || Tensor::<4>::from_data(x.clone(), &ad);
    let targets = || Tensor::<1, Int>::from_data(y.clone(), &ad);
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let logits = m.forward(images());
    let loss = ce.forward(logits.clone(), targets());
    let grads = loss.clone().backward();
    let mut collector = GradCollector {
        grads: &grads,
        path: vec![],
        out: BTreeMap::new(),
    };
    m.visit(&mut collector);
    let collected = collector.out;
    let logits = to_vec(logits)?;
    let mut losses = vec![loss.into_scalar::<f32>() as f64];
    let mut optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
        .init();
    let start = Instant::now();
    let gp = GradientsParams::from_grads(grads, &m);
    m = optim.step(lr, m, gp);
    for _ in 1..steps {
        let loss = ce.forward(m.forward(images()), targets());
        losses.push(loss.clone().into_scalar::<f32>() as f64);
        let gp = GradientsParams::from_grads(loss.backward(), &m);
        m = optim.step(lr, m, gp);
    }
    let final_loss = ce
        .forward(m.forward(images()), targets())
        .into_scalar::<f32>() as f64;
    let ms = start.elapsed().as_secs_f64() * 1e3 / steps.max(1) as f64;
    losses.push(final_loss);
    Ok(Run {
        logits,
        grads: collected,
        losses,
        ms_per_step: ms,
    })
}

/// max |a − b| and that divided by max(1, max |a|).
fn diff(a: &[f32], b: &[f32]) -> (f64, f64) {
    if a.len() != b.len() {
        return (f64::INFINITY, f64::INFINITY);
    }
    let scale = a.iter().fold(1.0f64, |m, v| m.max(v.abs() as f64));
    let d = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((*x as f64 - *y as f64).abs()));
    (d, d / scale)
}

pub fn compare(cfg: &CompareConfig) -> Result<Vec<CompareRow>> {
    let selected = cfg
        .backends
        .iter()
        .map(|b| select(*b).with_context(|| format!("backend {b}")))
        .collect::<Result<Vec<_>>>()?;
    // Weights are made on flex, whatever the backends compared.
    let flex = select(Backend::Flex)?.device;
    let mut rows = Vec::new();
    for mc in &cfg.models {
        flex.seed(cfg.seed);
        let model = mc
            .init(&flex)
            .with_context(|| format!("building {}", mc.arch))?;
        let [c, h, w] = model.input;
        let classes = model.classes;
        let x = Tensor::<4>::random([cfg.batch, c, h, w], Distribution::Normal(0.0, 1.0), &flex);
        let y: Vec<i64> = (0..cfg.batch).map(|i| (i % classes) as i64).collect();
        // Initialise every lazy parameter once, so every backend gets the same weights.
        let _ = model.forward(x.clone());
        let (x, y) = (x.into_data(), TensorData::new(y, [cfg.batch]));
        let runs = selected
            .iter()
            .map(|s| {
                run_on(&model, &x, &y, &s.device, cfg.steps, cfg.lr)
                    .with_context(|| format!("{} on {}", mc.arch, s.backend))
            })
            .collect::<Result<Vec<_>>>()?;
        let reference = &runs[0];
        for (s, r) in selected.iter().zip(&runs) {
            let (logits_abs, logits_rel) = diff(&reference.logits, &r.logits);
            let (mut grad_abs, mut grad_rel, mut worst) = (0.0f64, 0.0f64, String::new());
            for (name, g_ref) in &reference.grads {
                let g = r.grads.get(name).map(Vec::as_slice).unwrap_or(&[]);
                let (a, rel) = diff(g_ref, g);
                if rel > grad_rel || !rel.is_finite() {
                    worst = name.clone();
                }
                grad_abs = grad_abs.max(a);
                grad_rel = grad_rel.max(rel);
            }
            let (l_ref, l) = (
                *reference.losses.last().unwrap_or(&0.0),
                *r.losses.last().unwrap_or(&0.0),
            );
            let loss_rel = (l_ref - l).abs() / l_ref.abs().max(1.0);
            let trajectory_rel = reference
                .losses
                .iter()
                .zip(&r.losses)
                .map(|(a, b)| (a - b).abs() / a.abs().max(1.0))
                .fold(0.0, f64::max);
            let t = cfg.tolerance;
            rows.push(CompareRow {
                arch: mc.arch.name().to_string(),
                backend: s.backend.name().to_string(),
                device: s.description.clone(),
                logits_abs,
                logits_rel,
                grad_abs,
                grad_rel,
                worst_param: worst,
                loss_first: r.losses.first().copied().unwrap_or(f64::NAN),
                loss_after_steps: l,
                loss_rel,
                trajectory_rel,
                ms_per_step: r.ms_per_step,
                within_tolerance: logits_rel <= t.logits
                    && grad_rel <= t.grads
                    && trajectory_rel <= t.loss_after_steps,
            });
        }
    }
    Ok(rows)
}

pub fn render(rows: &[CompareRow], steps: usize) -> String {
    let mut out = format!(
        "{:<16} {:<8} {:>10} {:>10} {:>10} {:>10} {:>12} {:>10} {:>10}  {}\n",
        "arch",
        "backend",
        "logits",
        "logits rel",
        "grad",
        "grad rel",
        format!("loss@{steps}"),
        "loss rel",
        "ms/step",
        "ok"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<16} {:<8} {:>10.2e} {:>10.2e} {:>10.2e} {:>10.2e} {:>12.6} {:>10.2e} {:>10.1}  {}\n",
            r.arch,
            r.backend,
            r.logits_abs,
            r.logits_rel,
            r.grad_abs,
            r.grad_rel,
            r.loss_after_steps,
            r.loss_rel,
            r.ms_per_step,
            if r.within_tolerance { "yes" } else { "NO" }
        ));
    }
    out
}
