//! The model stage: a recipe's model config completed with the data's shape and classes, built
//! on a device with its parameters drawn in a fixed order, or loaded from a checkpoint.

use anyhow::{Result, anyhow, bail};
use burn::data::dataloader::DataLoader;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use convlab_models::{Model, ModelConfig};

use crate::config::recipe::Recipe;
use crate::record::rundir::RunDir;
use crate::run::classifier::Classifier;
use crate::run::data::RunData;

/// The recipe's model config with the data's input shape and class count (a recipe that
/// names different ones is an error).
pub fn config_for_data(recipe: &Recipe, data: &RunData) -> Result<ModelConfig> {
    let mut cfg = recipe.model.clone();
    let classes = data.class_names.len();
    match cfg.input {
        Some(i) if i != data.shape => bail!(
            "recipe `{}`: model.input {:?} does not match the data's {:?}",
            recipe.name,
            i,
            data.shape
        ),
        _ => cfg.input = Some(data.shape),
    }
    match cfg.classes {
        Some(c) if c != classes => bail!(
            "recipe `{}`: model.classes = {c} but the data has {classes} classes",
            recipe.name
        ),
        _ => cfg.classes = Some(classes),
    }
    Ok(cfg)
}

/// Draws every lazy parameter now, in module order.
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Builds `cfg` on `device` from `seed`: the same seed gives the same weights, whatever runs
/// before or after.
pub fn build(cfg: &ModelConfig, device: &Device, seed: u64) -> Result<Model> {
    device.seed(seed);
    let model = cfg.init(device)?;
    model.visit(&mut Materialize);
    Ok(model)
}

/// The training wrapper of a recipe around `model`.
pub fn classifier(recipe: &Recipe, model: Model) -> Classifier {
    Classifier::new(
        model,
        recipe.train.label_smoothing.unwrap_or(0.0),
        recipe.train.aux_weight.unwrap_or(0.3),
    )
}

/// The model of `checkpoint/model-<epoch>.bpk` (saved as a [`Classifier`]) on `device`.
/// Its checksum is verified first: a mismatch names the file and the epochs whose model files
/// still verify.
pub fn load(cfg: &ModelConfig, run: &RunDir, epoch: usize, device: &Device) -> Result<Model> {
    let path = run.checkpoint_file("model", epoch);
    if let Err(e) = crate::record::checksum::verify(&path) {
        let good: Vec<usize> = run
            .checkpoint_epochs()
            .into_iter()
            .filter(|&k| {
                k != epoch
                    && matches!(
                        crate::record::checksum::verify(&run.checkpoint_file("model", k)),
                        Ok(crate::record::checksum::Verified::Yes)
                    )
            })
            .collect();
        bail!("{e}; epochs whose model checkpoint verifies: {good:?}");
    }
    let classifier = Classifier::new(cfg.init(device)?, 0.0, 0.0);
    let classifier = classifier
        .try_load_file(&path)
        .map_err(|e| anyhow!("{}: cannot load checkpoint: {e}", path.display()))?;
    Ok(classifier.model)
}

/// Initial loss on one training batch next to ln(classes), the seed notes' first sanity
/// check. Computed in evaluation mode (no batch-norm statistics move, no random draws). A
/// model that starts from copied weights (`pretrained`) is expected to be below it.
pub fn initial_loss_check(
    model: &convlab_models::Model,
    loader: &crate::base::loader::EpochLoader,
    classes: usize,
    pretrained: bool,
) {
    let Some(Ok(batch)) = loader.iter().next() else {
        return;
    };
    let logits = model.forward(batch.images);
    let loss = crate::run::classifier::cross_entropy(logits, batch.targets, 0.0)
        .mean()
        .into_scalar::<f32>() as f64;
    let expected = (classes as f64).ln();
    let note = if !loss.is_finite() || (loss - expected).abs() > 0.5 * expected + 0.2 {
        if pretrained && loss < expected {
            "  (below: the copied weights already know something)"
        } else {
            "  WARNING: far from ln(classes); check the initialisation, labels and normalisation"
        }
    } else {
        ""
    };
    println!("initial loss {loss:.4} (ln {classes} = {expected:.4}){note}");
}

/// What a training step needs at the least, from the traced model: the parameters with their
/// gradients and the optimizer's state (SGD with momentum one buffer, Adam two), and every
/// layer's output for each image of a batch (autodiff keeps them for the backward pass). The
/// working buffers of the kernels and the backward pass's own tensors come on top, so a step
/// can need more, never less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepMemory {
    pub params: u64,
    /// Values of all layer outputs for one image.
    pub activations_per_image: u64,
    pub batch: usize,
    pub bytes: u64,
}

pub fn step_memory(recipe: &Recipe, cfg: &ModelConfig, train_images: usize) -> Result<StepMemory> {
    // Burn's parameters are lazy: tracing allocates no weights.
    let summary = cfg.init(&Device::flex())?.summary();
    let activations_per_image: u64 = summary.rows.iter().map(|r| r.output.numel() as u64).sum();
    let states = match recipe.optimizer.kind {
        crate::config::recipe::OptimizerKind::Sgd if recipe.optimizer.momentum == 0.0 => 0,
        crate::config::recipe::OptimizerKind::Sgd => 1,
        _ => 2,
    };
    let batch = recipe.batch_size.min(train_images.max(1));
    let values = summary.total_params.saturating_mul(2 + states)
        + activations_per_image.saturating_mul(batch as u64);
    Ok(StepMemory {
        params: summary.total_params,
        activations_per_image,
        batch,
        bytes: values.saturating_mul(4),
    })
}

/// Refuses, before anything is allocated for training, a recipe whose step needs more than
/// the machine's memory (its RAM, or a cgroup's limit where lower), naming `batch_size` and
/// the limit. On wgpu the step lives in the GPU's memory, whose size wgpu does not report;
/// its allocator's own error stands there.
pub fn check_memory(
    recipe: &Recipe,
    cfg: &ModelConfig,
    train_images: usize,
    backend: crate::base::backend::Backend,
) -> Result<()> {
    if backend == crate::base::backend::Backend::Wgpu {
        return Ok(());
    }
    let Some(limit) = machine_memory() else {
        return Ok(());
    };
    let need = step_memory(recipe, cfg, train_images)?;
    if need.bytes > limit {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        bail!(
            "`batch_size` = {}: a training step of {} at {:?} needs at least {:.1} GiB ({} parameters with gradients and optimizer state, {} layer-output values per image × {} images), more than this machine's {:.1} GiB; lower `batch_size` or the input size",
            recipe.batch_size,
            recipe.model.arch.name(),
            cfg.input.unwrap_or_default(),
            gib(need.bytes),
            need.params,
            need.activations_per_image,
            need.batch,
            gib(limit),
        );
    }
    Ok(())
}

/// The memory this process may use: `MemTotal` of `/proc/meminfo`, or the cgroup v2 limit
/// where it is lower; `None` where neither can be read (not Linux). Five lines of parsing
/// rather than a system-information crate for two numbers.
pub fn machine_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let total = total_kib * 1024;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    Some(cgroup.map_or(total, |c| c.min(total)))
}
