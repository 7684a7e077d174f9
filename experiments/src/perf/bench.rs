//! Training and inference throughput and peak memory per architecture and backend.
//! Each (architecture, backend) pair runs in a child process of its own, so the peak resident
//! memory it reports belongs to that pair alone.

use std::time::Instant;

use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use burn::train::Learner;
use convlab_datasets::{
    AugmentConfig, Augmenter, ChannelStats, CropConfig, ImageBatcher, SyntheticConfig, generate,
};
use convlab_models::{Arch, HeadKind, Model, ModelConfig};
use serde::{Deserialize, Serialize};

use crate::base::backend::{Backend, select};
use crate::base::loader::EpochLoader;
use crate::config::recipe::{OptimizerConfig, OptimizerKind};
use crate::run::classifier::Classifier;
use crate::run::schedule::Schedule;

/// The architectures of the PyTorch reference script (`scripts/bench_torch.py`), configured to
/// match it layer for layer.
pub fn default_models() -> Vec<ModelConfig> {
    vec![
        ModelConfig::new(Arch::LeNet5),
        ModelConfig::new(Arch::AlexNetCifar),
        ModelConfig::new(Arch::Vgg11BnCifar)
            .with_head(HeadKind::Gap)
            .with_dropout(0.0),
        ModelConfig::new(Arch::Vgg16BnCifar)
            .with_head(HeadKind::Gap)
            .with_dropout(0.0),
        ModelConfig::new(Arch::ResNet20).with_shortcut(convlab_blocks::Shortcut::B),
    ]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchRow {
    pub arch: String,
    pub backend: String,
    pub device: String,
    pub batch: usize,
    pub params: u64,
    pub train_images_per_s: f64,
    pub train_step_ms_median: f64,
    pub infer_images_per_s: f64,
    /// Peak resident set size of the measuring process (CPU memory; GPU memory is not seen).
    pub peak_rss_mb: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// VmHWM of this process, in MiB (Linux).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Measures one model on one backend in this process, on `train`'s own path:
/// - data: synthetic 8-bit images of the model's input shape in memory, through the training
///   loader and batcher (normalisation, and for 3-channel inputs the CIFAR recipes' crop + flip);
/// - step: burn-train's per-iteration calls on a [`Learner`] built as `train` builds it
///   ([`Classifier`]'s step, the recipe optimiser — SGD, Nesterov momentum 0.9, weight decay
///   5e-4 on every parameter — and the LR schedule): `train_step`, `lr_step`,
///   `optimizer_step`. Not included: burn-train's per-iteration metric bookkeeping.
///
/// `warmup` untimed steps, then `steps` timed ones; then as many inference batches in eval
/// mode on the plain device.
pub fn bench_one(
    cfg: &ModelConfig,
    backend: Backend,
    batch: usize,
    steps: usize,
    warmup: usize,
) -> Result<BenchRow> {
    let s = select(backend)?;
    let ad = s.device.clone().autodiff();
    let model =
        crate::run::model::build(cfg, &ad, 0).with_context(|| format!("building {}", cfg.arch))?;
    let params = convlab_blocks::count_params(&model);
    let [c, h, w] = model.input;
    let total = warmup + steps;
    let loader = synthetic_loader(model.input, model.classes, batch, total, &ad)?;
    let optimizer = bench_optimizer();
    let schedule = Schedule::new(Default::default(), optimizer.lr, total, 1);
    let mut learner = Learner::new(
        Classifier::new(model, 0.0, 0.3),
        crate::run::optim::build(&optimizer),
        schedule,
    );
    let times = time_training(&mut learner, &loader, warmup, total)?;
    let eval = learner.model().model.valid();
    let infer = time_inference(&eval, [batch, c, h, w], &s.device, warmup, total);
    let total_train: f64 = times.iter().sum();
    let total_infer: f64 = infer.iter().sum();
    Ok(BenchRow {
        arch: cfg.arch.name().to_string(),
        backend: s.backend.name().to_string(),
        device: s.description,
        batch,
        params,
        train_images_per_s: (batch * steps) as f64 / total_train,
        train_step_ms_median: median(times) * 1e3,
        infer_images_per_s: (batch * steps) as f64 / total_infer,
        peak_rss_mb: peak_rss_mb(),
    })
}

/// The training loader of the benchmark: `total` batches of synthetic 8-bit images of shape
/// `input` held in memory, normalised, and for 3-channel inputs of 16 pixels or more cropped
/// and flipped as the CIFAR recipes do.
fn synthetic_loader(
    input: [usize; 3],
    classes: usize,
    batch: usize,
    total: usize,
    device: &Device,
) -> Result<EpochLoader> {
    let [c, h, _] = input;
    let set = Arc::new(generate(&SyntheticConfig::new(
        (batch * total).max(batch),
        input,
        classes,
        0,
    ))?);
    let stats = ChannelStats::compute(&set);
    let augment = (c == 3 && h >= 16).then(|| {
        Augmenter::new(
            AugmentConfig {
                crop: Some(CropConfig {
                    padding: 4,
                    fill: Default::default(),
                }),
                hflip: 0.5,
                ..Default::default()
            },
            0,
            vec![0; c],
        )
    });
    Ok(EpochLoader::new(
        Arc::new(ImageBatcher::new(set.clone(), &stats, augment)),
        batch,
        Some(0),
        device.clone(),
    ))
}

/// The recipe optimiser the benchmark trains with: SGD, Nesterov momentum 0.9, weight decay
/// 5e-4 on every parameter.
fn bench_optimizer() -> OptimizerConfig {
    OptimizerConfig {
        kind: OptimizerKind::Sgd,
        lr: 0.05,
        momentum: 0.9,
        nesterov: true,
        weight_decay: 5e-4,
        decay_norm_and_bias: true,
        betas: [0.9, 0.999],
        eps: 1e-8,
    }
}

/// Seconds of each training step after the first `warmup` of `total`: burn-train's
/// per-iteration calls, waiting for the step's work to finish.
fn time_training(
    learner: &mut Learner<Classifier>,
    loader: &EpochLoader,
    warmup: usize,
    total: usize,
) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(total.saturating_sub(warmup));
    let mut batches = loader.iter();
    for i in 0..total {
        let start = Instant::now();
        let Some(Ok(item)) = batches.next() else {
            bail!("the synthetic training set ran out of batches");
        };
        let out = learner.train_step(item);
        learner.lr_step();
        learner.optimizer_step(out.grads);
        // Wait for this step's work (a no-op on CPU backends, which compute eagerly).
        let _ = out.item.loss.into_data();
        if i >= warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    Ok(times)
}

/// Seconds of each forward pass of `model` (evaluation mode, plain device) on one random
/// batch of `shape`, after the first `warmup` of `total`.
fn time_inference(
    model: &Model,
    shape: [usize; 4],
    device: &Device,
    warmup: usize,
    total: usize,
) -> Vec<f64> {
    let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), device);
    let mut infer = Vec::with_capacity(total.saturating_sub(warmup));
    for i in 0..total {
        let start = Instant::now();
        let logits = model.forward(x.clone());
        let _ = logits.into_data();
        if i >= warmup {
            infer.push(start.elapsed().as_secs_f64());
        }
    }
    infer
}

/// Runs every pair in a child process (`convlab bench --one ...`) and collects the rows.
pub fn bench_all(
    exe: &std::path::Path,
    models: &[ModelConfig],
    backends: &[Backend],
    batch: usize,
    steps: usize,
    warmup: usize,
) -> Result<Vec<BenchRow>> {
    let mut rows = Vec::new();
    let total = models.len() * backends.len();
    for m in models {
        let spec = serde_json::to_string(m)?;
        for b in backends {
            // One line per measurement as it starts: ndarray takes minutes on the larger nets.
            eprintln!(
                "bench {}/{total}: {} on {b} ({} steps of {batch} after {warmup} warm-up) …",
                rows.len() + 1,
                m.arch,
                steps
            );
            let out = std::process::Command::new(exe)
                .args(["bench", "--one", &spec, "--backend", b.name()])
                .args([
                    "--batch",
                    &batch.to_string(),
                    "--steps",
                    &steps.to_string(),
                    "--warmup",
                    &warmup.to_string(),
                ])
                .output()
                .with_context(|| format!("running {}", exe.display()))?;
            if !out.status.success() {
                bail!(
                    "{} on {b}: {}",
                    m.arch,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text
                .lines()
                .rev()
                .find(|l| l.starts_with('{'))
                .ok_or_else(|| anyhow!("{} on {b}: no result", m.arch))?;
            rows.push(serde_json::from_str(line)?);
        }
    }
    Ok(rows)
}

/// The measurements as a table.
pub fn render(rows: &[BenchRow]) -> String {
    let mut t = crate::base::table::new(&[
        "arch",
        "backend",
        "batch",
        "params",
        "train img/s",
        "step ms",
        "infer img/s",
        "peak MiB",
    ]);
    for r in rows {
        t.add_row(vec![
            r.arch.clone(),
            r.backend.clone(),
            r.batch.to_string(),
            r.params.to_string(),
            format!("{:.1}", r.train_images_per_s),
            format!("{:.1}", r.train_step_ms_median),
            format!("{:.1}", r.infer_images_per_s),
            r.peak_rss_mb.map_or("-".to_string(), |m| format!("{m:.0}")),
        ]);
    }
    t.to_string()
}
