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
use convlab_models::{Arch, Model, ModelConfig, parse_input};
use serde::Serialize;

use crate::base::backend::{Backend, Selected, select};

/// Agreement bounds. Every tensor is compared relative to its own scale: logits and each
/// parameter's gradient to their largest reference magnitude, each parameter after the first
/// SGD step to the size of its own reference update (so a backend whose optimizer did nothing is
/// off by 100 %), and the loss of every step to the loss itself. Later steps are judged by their
/// losses only: in narrow batch-norm channels the first step's 1e-6-level differences grow by
/// orders of magnitude per step (measured: 4e-5, 1e-3, 0.3 after 1, 2, 3 steps in a 1/16-width
/// GoogLeNet), a property of the tiny test models rather than of a backend. A gradient or update scale is floored at
/// [`NOISE_FLOOR`] of the model's largest one: below that, f32 rounding of the sums is all there
/// is (a conv bias followed by batch norm has a true gradient of exactly zero).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Tolerance {
    pub logits: f64,
    pub grads: f64,
    pub params: f64,
    pub losses: f64,
}

/// Gradients and updates smaller than this fraction of the model's largest are float noise.
pub const NOISE_FLOOR: f64 = 1e-4;

impl Default for Tolerance {
    fn default() -> Self {
        // f32 kernels sum in different orders (~1e-7 relative per op, amplified by depth);
        // batch norm divides by per-channel deviations and the steps compound differences.
        Self {
            logits: 1e-4,
            grads: 1e-3,
            params: 1e-3,
            losses: 5e-3,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CompareConfig {
    pub models: Vec<ModelConfig>,
    pub backends: Vec<Backend>,
    /// SGD steps (momentum 0.9) on the batch; the reference loss must fall over them.
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
    pub tolerance: Tolerance,
}

/// The default comparison set, also the parity tests' set: one or more width-reduced models
/// per family at inputs small enough for a software Vulkan driver.
pub fn default_models() -> Vec<ModelConfig> {
    let tiny = |arch: Arch, width: f64, input: Option<[usize; 3]>| {
        let mut m = reduced(arch, width).with_classes(10);
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

/// The model `compare-backends --arch <name>` compares: the family at `width` (default 0.25;
/// LeNet-5, small already, at 1), dropout off like the default set's, at the input `CxHxW`
/// when given (else the architecture's own); the class count is left to the architecture.
pub fn arch_model(name: &str, width: Option<f64>, input: Option<&str>) -> Result<ModelConfig> {
    let arch: Arch = name.parse()?;
    let mut m = reduced(
        arch,
        width.unwrap_or(if arch == Arch::LeNet5 { 1.0 } else { 0.25 }),
    );
    m.input = input.map(parse_input).transpose()?;
    Ok(m)
}

/// A family at a width multiplier, with dropout off where the family has it: the comparison
/// runs the same steps on every backend, and dropout masks drawn per backend would differ.
fn reduced(arch: Arch, width: f64) -> ModelConfig {
    let m = ModelConfig::new(arch).with_width(width);
    if ModelConfig::takes(arch, convlab_models::Knob::Dropout) {
        m.with_dropout(0.0)
    } else {
        m
    }
}

/// One model on one backend, against the reference backend (the first one).
#[derive(Debug, Clone, Serialize)]
pub struct CompareRow {
    pub arch: String,
    pub backend: String,
    pub device: String,
    /// max |Δ logits| / max |reference logits|.
    pub logits_rel: f64,
    /// Worst over parameters of max |Δ grad| / max |reference grad| (first step).
    pub grad_rel: f64,
    pub worst_grad: String,
    /// Worst over parameters of max |Δ param| / max |reference update| after the first step.
    pub param_rel: f64,
    pub worst_param: String,
    /// Worst over steps of |Δ loss| / |reference loss|.
    pub loss_rel: f64,
    pub loss_first: f64,
    pub loss_last: f64,
    pub ms_per_step: f64,
    pub within_tolerance: bool,
}

struct Run {
    logits: Vec<f32>,
    grads: BTreeMap<String, Vec<f32>>,
    before: BTreeMap<String, Vec<f32>>,
    /// Parameters after the first step.
    after: BTreeMap<String, Vec<f32>>,
    /// Loss before each step and after the last.
    losses: Vec<f64>,
    ms_per_step: f64,
}

/// Every trainable parameter's values, by the path `convlab summary` and the diagnostics print
/// (`stages.0.0.convs.0.bn.beta`: no `net.`, no enum variant names).
struct ParamCollector {
    path: Vec<String>,
    out: BTreeMap<String, Vec<f32>>,
}

impl ModuleVisitor for ParamCollector {
    fn enter_module(&mut self, name: &str, container: &str) {
        enter(&mut self.path, name, container);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(path) = param_path(&self.path) else {
            return;
        };
        let values = param
            .val()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        self.out.insert(path, values);
    }
}

fn params(m: &Model) -> BTreeMap<String, Vec<f32>> {
    let mut c = ParamCollector {
        path: vec![],
        out: BTreeMap::new(),
    };
    m.visit(&mut c);
    c.out
}

/// Pushes a visited module's name; an empty one for what is not part of a module's path as
/// convlab prints it: enum variants (`Network::ResNet`, `Layer::Conv`) and the model's `net`.
fn enter(path: &mut Vec<String>, name: &str, container: &str) {
    let skip = container.starts_with("Enum:") || (path.is_empty() && name == "net");
    path.push(if skip {
        String::new()
    } else {
        name.to_string()
    });
}

/// The dotted path of a trainable parameter; `None` for running statistics.
fn param_path(path: &[String]) -> Option<String> {
    let path: Vec<String> = path.iter().filter(|p| !p.is_empty()).cloned().collect();
    (!is_buffer(&path)).then(|| path.join("."))
}

struct GradCollector<'a> {
    grads: &'a Gradients,
    path: Vec<String>,
    out: BTreeMap<String, Vec<f32>>,
}

impl ModuleVisitor for GradCollector<'_> {
    fn enter_module(&mut self, name: &str, container: &str) {
        enter(&mut self.path, name, container);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(path) = param_path(&self.path) else {
            return;
        };
        let values = param
            .val()
            .grad(self.grads)
            .and_then(|g| g.into_data().convert::<f32>().try_to_vec::<f32>().ok())
            .unwrap_or_default();
        self.out.insert(path, values);
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
    let before = params(&m);
    let mut optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
        .init();
    let (mut logits, mut grads, mut losses, mut after) =
        (vec![], BTreeMap::new(), vec![], BTreeMap::new());
    let start = Instant::now();
    for step in 0..steps {
        let out = m.forward(images());
        let loss = ce.forward(out.clone(), targets());
        losses.push(loss.clone().into_scalar::<f32>() as f64);
        let g = loss.backward();
        if step == 0 {
            logits = to_vec(out)?;
            let mut collector = GradCollector {
                grads: &g,
                path: vec![],
                out: BTreeMap::new(),
            };
            m.visit(&mut collector);
            grads = collector.out;
        }
        let gp = GradientsParams::from_grads(g, &m);
        m = optim.step(lr, m, gp);
        if step == 0 {
            after = params(&m);
        }
    }
    let ms = start.elapsed().as_secs_f64() * 1e3 / steps.max(1) as f64;
    losses.push(
        ce.forward(m.forward(images()), targets())
            .into_scalar::<f32>() as f64,
    );
    Ok(Run {
        logits,
        grads,
        before,
        after,
        losses,
        ms_per_step: ms,
    })
}

/// max |a − b| / max |a|, with `scale` overriding the denominator (infinite on a length
/// mismatch, 0 when both are all zeros).
fn rel(a: &[f32], b: &[f32], scale: Option<f64>) -> f64 {
    rel_beyond(a, b, scale, 0.0)
}

/// As [`rel`], counting only what an element differs by beyond `ulps` units in the last place
/// of its reference value (parameters after an update: both sides round `p − lr·g` to f32).
fn rel_beyond(a: &[f32], b: &[f32], scale: Option<f64>, ulps: f64) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let d = a.iter().zip(b).fold(0.0f64, |m, (x, y)| {
        let slack = ulps * f32::EPSILON as f64 * x.abs() as f64;
        m.max(((*x as f64 - *y as f64).abs() - slack).max(0.0))
    });
    let s = scale.unwrap_or_else(|| a.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64)));
    if d == 0.0 {
        0.0
    } else if s == 0.0 {
        f64::INFINITY
    } else {
        d / s
    }
}

/// The worst relative difference over the tensors of `b` against `a`, and where.
fn worst(
    a: &BTreeMap<String, Vec<f32>>,
    b: &BTreeMap<String, Vec<f32>>,
    ulps: f64,
    scale: impl Fn(&str, &[f32]) -> Option<f64>,
) -> (f64, String) {
    let mut out = (0.0f64, String::new());
    for (name, x) in a {
        let y = b.get(name).map(Vec::as_slice).unwrap_or(&[]);
        let r = rel_beyond(x, y, scale(name, x), ulps);
        if r > out.0 || (!r.is_finite() && out.0.is_finite()) {
            out = (r, name.clone());
        }
    }
    out
}

/// Every model of `cfg` on every backend, each row against the first backend's run.
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
        let (model, x, y) = shared_start(mc, cfg, &flex)?;
        let runs = selected
            .iter()
            .map(|s| {
                run_on(&model, &x, &y, &s.device, cfg.steps, cfg.lr)
                    .with_context(|| format!("{} on {}", mc.arch, s.backend))
            })
            .collect::<Result<Vec<_>>>()?;
        let reference = &runs[0];
        let update = updates(reference);
        for (s, r) in selected.iter().zip(&runs) {
            rows.push(judge(mc, s, reference, r, &update, cfg.tolerance));
        }
    }
    Ok(rows)
}

/// What every backend starts from: the model built on flex from `cfg.seed` with every lazy
/// parameter initialised, and a random batch with cycling labels, as data to copy anywhere.
fn shared_start(
    mc: &ModelConfig,
    cfg: &CompareConfig,
    flex: &Device,
) -> Result<(Model, TensorData, TensorData)> {
    flex.seed(cfg.seed);
    let model = mc
        .init(flex)
        .with_context(|| format!("building {}", mc.arch))?;
    let [c, h, w] = model.input;
    let classes = model.classes;
    let x = Tensor::<4>::random([cfg.batch, c, h, w], Distribution::Normal(0.0, 1.0), flex);
    let y: Vec<i64> = (0..cfg.batch).map(|i| (i % classes) as i64).collect();
    // Initialise every lazy parameter once, so every backend gets the same weights.
    let _ = model.forward(x.clone());
    Ok((model, x.into_data(), TensorData::new(y, [cfg.batch])))
}

/// Each parameter's own reference update, max |after − before| over its elements: the scale
/// its difference after the first step is measured against.
fn updates(reference: &Run) -> BTreeMap<&str, f64> {
    reference
        .before
        .iter()
        .map(|(k, b)| {
            let a = reference.after.get(k).map(Vec::as_slice).unwrap_or(&[]);
            let u = b
                .iter()
                .zip(a)
                .fold(0.0f64, |m, (x, y)| m.max((*x as f64 - *y as f64).abs()));
            (k.as_str(), u)
        })
        .collect()
}

/// The row of backend `s`'s run `r` of model `mc` against the `reference` run: each
/// difference relative to its own scale, and whether all are within `t`.
fn judge(
    mc: &ModelConfig,
    s: &Selected,
    reference: &Run,
    r: &Run,
    update: &BTreeMap<&str, f64>,
    t: Tolerance,
) -> CompareRow {
    let logits_rel = rel(&reference.logits, &r.logits, None);
    let grad_floor = NOISE_FLOOR
        * reference
            .grads
            .values()
            .flatten()
            .fold(0f64, |m, v| m.max(v.abs() as f64));
    let (grad_rel, worst_grad) = worst(&reference.grads, &r.grads, 0.0, |_, g| {
        Some(g.iter().fold(grad_floor, |m, v| m.max(v.abs() as f64)))
    });
    let update_floor = NOISE_FLOOR * update.values().fold(0f64, |m, u| m.max(*u));
    // Parameters are f32: both sides round p − lr·g to the same grid, so differences of
    // up to 2 ulps of the value are rounding, and the rest is measured against the
    // parameter's own update.
    let (param_rel, worst_param) = worst(&reference.after, &r.after, 2.0, |name, _| {
        Some(update.get(name).copied().unwrap_or(0.0).max(update_floor))
    });
    let loss_rel = reference
        .losses
        .iter()
        .zip(&r.losses)
        .map(|(a, b)| (a - b).abs() / a.abs().max(f64::MIN_POSITIVE))
        .fold(0.0, f64::max);
    CompareRow {
        arch: mc.arch.name().to_string(),
        backend: s.backend.name().to_string(),
        device: s.description.clone(),
        logits_rel,
        grad_rel,
        worst_grad,
        param_rel,
        worst_param,
        loss_rel,
        loss_first: r.losses.first().copied().unwrap_or(f64::NAN),
        loss_last: r.losses.last().copied().unwrap_or(f64::NAN),
        ms_per_step: r.ms_per_step,
        within_tolerance: logits_rel <= t.logits
            && grad_rel <= t.grads
            && param_rel <= t.params
            && loss_rel <= t.losses,
    }
}

/// The comparison as a table.
pub fn render(rows: &[CompareRow], steps: usize) -> String {
    let mut t = crate::base::table::new(&[
        "arch",
        "backend",
        "logits rel",
        "grad rel",
        "worst grad",
        "params@1 rel",
        "worst param",
        &format!("losses@{steps} rel"),
        "loss first",
        "loss last",
        "ms/step",
        "ok",
    ]);
    for r in rows {
        t.add_row(vec![
            r.arch.clone(),
            r.backend.clone(),
            format!("{:.2e}", r.logits_rel),
            format!("{:.2e}", r.grad_rel),
            r.worst_grad.clone(),
            format!("{:.2e}", r.param_rel),
            r.worst_param.clone(),
            format!("{:.2e}", r.loss_rel),
            format!("{:.5}", r.loss_first),
            format!("{:.5}", r.loss_last),
            format!("{:.1}", r.ms_per_step),
            if r.within_tolerance { "yes" } else { "NO" }.to_string(),
        ]);
    }
    t.to_string()
}
