//! Training and inference throughput and peak memory per architecture and backend.
//! Each (architecture, backend) pair runs in a child process of its own, so the peak resident
//! memory it reports belongs to that pair alone.

use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use convlab_models::{Arch, HeadKind, ModelConfig};
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, select};

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

/// Measures one model on one backend in this process: `warmup` untimed steps, then `steps`
/// timed training steps (forward, loss, backward, SGD with Nesterov momentum and weight decay)
/// and as many inference batches, all on one fixed random batch.
pub fn bench_one(
    cfg: &ModelConfig,
    backend: Backend,
    batch: usize,
    steps: usize,
    warmup: usize,
) -> Result<BenchRow> {
    let s = select(backend)?;
    let ad = s.device.clone().autodiff();
    s.device.seed(0);
    let mut model = cfg
        .init(&ad)
        .with_context(|| format!("building {}", cfg.arch))?;
    let params = convlab_blocks::count_params(&model);
    let [c, h, w] = model.input;
    let classes = model.classes;
    let x = Tensor::<4>::random([batch, c, h, w], Distribution::Normal(0.0, 1.0), &ad).into_data();
    let y = TensorData::new(
        (0..batch).map(|i| (i % classes) as i64).collect::<Vec<_>>(),
        [batch],
    );
    let ce = CrossEntropyLossConfig::new().init(&ad);
    let mut optim = SgdConfig::new()
        .with_momentum(Some(
            MomentumConfig::new()
                .with_dampening(0.0)
                .with_nesterov(true),
        ))
        .with_weight_decay(Some(WeightDecayConfig::new(5e-4)))
        .init();
    let mut times = Vec::with_capacity(steps);
    for i in 0..warmup + steps {
        let start = Instant::now();
        let images = Tensor::<4>::from_data(x.clone(), &ad);
        let targets = Tensor::<1, Int>::from_data(y.clone(), &ad);
        let loss = ce.forward(model.forward(images), targets);
        // Reading the loss waits for this forward pass and, queued before it, the previous
        // step's backward pass and update: in steady state a step's time is all of its work.
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.05, model, grads);
        if i >= warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    let eval = model.valid();
    let mut infer = Vec::with_capacity(steps);
    for i in 0..warmup + steps {
        let start = Instant::now();
        let logits = eval.forward(Tensor::<4>::from_data(x.clone(), &s.device));
        let _ = logits.into_data();
        if i >= warmup {
            infer.push(start.elapsed().as_secs_f64());
        }
    }
    let total: f64 = times.iter().sum();
    let total_infer: f64 = infer.iter().sum();
    Ok(BenchRow {
        arch: cfg.arch.name().to_string(),
        backend: s.backend.name().to_string(),
        device: s.description,
        batch,
        params,
        train_images_per_s: (batch * steps) as f64 / total,
        train_step_ms_median: median(times) * 1e3,
        infer_images_per_s: (batch * steps) as f64 / total_infer,
        peak_rss_mb: peak_rss_mb(),
    })
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
    for m in models {
        let spec = serde_json::to_string(m)?;
        for b in backends {
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

pub fn render(rows: &[BenchRow]) -> String {
    let mut out = format!(
        "{:<16} {:<8} {:>6} {:>11} {:>12} {:>11} {:>12} {:>9}\n",
        "arch", "backend", "batch", "params", "train img/s", "step ms", "infer img/s", "peak MiB"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<16} {:<8} {:>6} {:>11} {:>12.1} {:>11.1} {:>12.1} {:>9}\n",
            r.arch,
            r.backend,
            r.batch,
            r.params,
            r.train_images_per_s,
            r.train_step_ms_median,
            r.infer_images_per_s,
            r.peak_rss_mb.map_or("-".to_string(), |m| format!("{m:.0}"))
        ));
    }
    out
}
