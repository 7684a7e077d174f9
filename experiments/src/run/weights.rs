//! Weights files: a model's burnpack record (`<name>.bpk`) beside a description of what it is
//! (`<name>.json`: architecture, classes, input, class names, input normalisation, source), as
//! `convlab import` writes them and `export` reads them. A run directory's checkpoint works
//! wherever a weights file does.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use burn::module::Module;
use burn::tensor::Device;
use convlab_models::{Arch, Model, ModelConfig};
use serde::{Deserialize, Serialize};

use crate::record::rundir::{RunDir, write_atomic};

/// ImageNet's per-channel mean and std (torchvision's preprocessing).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsInfo {
    pub arch: String,
    pub classes: usize,
    /// `[C, H, W]` the model was built for.
    pub input: [usize; 3],
    /// GoogLeNet's auxiliary heads are in the record.
    #[serde(default)]
    pub aux_heads: bool,
    /// Per-channel normalisation the weights expect on [0, 1] pixels.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Class names, or empty for ImageNet's 1000 (see `labels`).
    #[serde(default)]
    pub class_names: Vec<String>,
    /// `imagenet` when the classes are ImageNet-1k's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<String>,
    /// Where the weights came from (a file, a run).
    pub source: String,
    /// SHA-256 of the imported file (checked against `--checksum` when one was given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sha256: Option<String>,
    /// How an image becomes the model's input.
    pub preprocess: Preprocess,
}

/// How `predict` turns an image file into the model's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum Preprocess {
    /// torchvision's ImageNet evaluation transform: the shorter side resized to `resize`
    /// (bilinear, antialiased), the centre `crop`×`crop` cut out.
    ResizeCrop { resize: usize, crop: usize },
    /// As a run's data: resized to `height`×`width`, then `pad` zero pixels on each side.
    Resize {
        height: usize,
        width: usize,
        pad: usize,
    },
}

impl WeightsInfo {
    pub fn config(&self) -> Result<ModelConfig> {
        let arch: Arch = self
            .arch
            .parse()
            .map_err(|e| anyhow!("weights: architecture `{}`: {e}", self.arch))?;
        let mut cfg = ModelConfig::new(arch);
        cfg.classes = Some(self.classes);
        cfg.input = Some(self.input);
        if self.aux_heads {
            cfg.aux_heads = Some(true);
        }
        Ok(cfg)
    }
}

/// `weights.bpk` → (`weights.bpk`, `weights.json`); a path without extension gets both.
pub fn paths(path: &Path) -> (PathBuf, PathBuf) {
    let stem = if path.extension().is_some_and(|e| e == "bpk" || e == "json") {
        path.with_extension("")
    } else {
        path.to_path_buf()
    };
    (stem.with_extension("bpk"), stem.with_extension("json"))
}

/// Writes both files, each atomically.
pub fn save(model: &Model, info: &WeightsInfo, path: &Path) -> Result<(PathBuf, PathBuf)> {
    let (bpk, json) = paths(path);
    if let Some(dir) = bpk.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow!("{}: cannot encode the weights: {e:?}", bpk.display()))?;
    crate::record::checksum::write(&bpk, &bytes)?;
    write_atomic(&json, serde_json::to_string_pretty(info)?.as_bytes())?;
    Ok((bpk, json))
}

/// A weights file, or a run directory (its best checkpoint), as a model on `device` (a run's
/// data is read from `data_dir` for its normalisation statistics and class names).
pub fn load(path: &Path, device: &Device, data_dir: Option<&Path>) -> Result<(Model, WeightsInfo)> {
    if path.is_dir() {
        return load_run(path, device, data_dir);
    }
    let (bpk, json) = paths(path);
    let text = std::fs::read_to_string(&json).with_context(|| {
        format!(
            "{}: no description of the weights beside {} (written by `convlab import`)",
            json.display(),
            bpk.display()
        )
    })?;
    let info: WeightsInfo = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a weights description", json.display()))?;
    crate::record::checksum::verify(&bpk)?;
    let model = info.config()?.init(device)?;
    let model = model
        .try_load_file(&bpk)
        .map_err(|e| anyhow!("{}: cannot load the weights: {e}", bpk.display()))?;
    Ok((model, info))
}

/// A run directory's best checkpoint, described from its recipe and summary.
fn load_run(dir: &Path, device: &Device, data_dir: Option<&Path>) -> Result<(Model, WeightsInfo)> {
    let run = RunDir::open(dir)?;
    let recipe = run.recipe()?;
    let epoch = crate::run::eval::checkpoint_epoch(&run, crate::run::eval::CheckpointChoice::Best)?;
    let cfg = recipe
        .model_config()
        .with_context(|| format!("{}: the run's recipe", dir.display()))?;
    let input = cfg.input.unwrap_or_default();
    let classes = cfg.classes.unwrap_or_default();
    let model = crate::run::model::load(&cfg, &run, epoch, device)?;
    // The run's normalisation and class names come from its data, as training computed them.
    let data = crate::run::data::prepare(&recipe, data_dir, false).with_context(|| {
        format!(
            "{}: loading the run's data for its normalisation statistics (--data-dir)",
            dir.display()
        )
    })?;
    let pad = recipe.data.pad;
    Ok((
        model,
        WeightsInfo {
            arch: cfg.arch.name().to_string(),
            classes,
            input,
            aux_heads: cfg.aux_heads.unwrap_or(false),
            mean: data.stats.mean.clone(),
            std: data.stats.std.clone(),
            class_names: data.class_names.clone(),
            labels: None,
            source: format!("{} (epoch {epoch})", dir.display()),
            source_sha256: None,
            preprocess: Preprocess::Resize {
                height: input[1] - 2 * pad,
                width: input[2] - 2 * pad,
                pad,
            },
        },
    ))
}

/// What `import` wrote: the tensor report and the two files.
pub struct Imported {
    pub arch: Arch,
    pub report: convlab_models::torchvision::ImportReport,
    pub bpk: PathBuf,
    pub json: PathBuf,
    /// SHA-256 of the imported file; `checked` when it matched a `--checksum`.
    pub sha256: String,
    pub checked: bool,
}

/// A torchvision state dict (`.pth` or safetensors) imported into `arch` (for `classes` classes:
/// the final classifier is then new; with GoogLeNet's auxiliary heads when `aux_heads`), saved
/// as a weights file at `out` with the description torchvision's pretrained weights expect:
/// ImageNet's normalisation (GoogLeNet's `transform_input`: [-1, 1]), resize to 256/224 of the
/// input then a centre crop.
/// The file's SHA-256 is checked first: against `checksum` (whole or a prefix of 8 or more hex
/// digits) when given, and against a `<file>.sha256` sidecar when there is one (safetensors and
/// pickles carry no checksum of their own, so a flipped byte would otherwise import silently).
pub fn import(
    arch: Arch,
    file: &Path,
    classes: Option<usize>,
    aux_heads: bool,
    out: &Path,
    checksum: Option<&str>,
) -> Result<Imported> {
    let sha256 = crate::record::checksum::check_given(file, checksum)?;
    let mut cfg = ModelConfig::new(arch);
    if let Some(c) = classes {
        cfg.classes = Some(c);
    }
    if aux_heads {
        cfg.aux_heads = Some(true);
    }
    let mut model = cfg.init(&Device::flex())?;
    let report = convlab_models::torchvision::import(&mut model, file)?;
    let imagenet = model.classes == 1000;
    let (mean, std) = if matches!(arch.spec(), convlab_models::Spec::GoogLeNet { .. }) {
        // torchvision's pretrained GoogLeNet normalises to [-1, 1] (`transform_input`).
        (vec![0.5; 3], vec![0.5; 3])
    } else {
        (IMAGENET_MEAN.to_vec(), IMAGENET_STD.to_vec())
    };
    let info = WeightsInfo {
        arch: arch.name().to_string(),
        classes: model.classes,
        input: model.input,
        aux_heads,
        mean,
        std,
        class_names: vec![],
        labels: imagenet.then(|| "imagenet".to_string()),
        source: file.display().to_string(),
        source_sha256: Some(sha256.clone()),
        preprocess: Preprocess::ResizeCrop {
            resize: model.input[1] * 256 / 224,
            crop: model.input[1],
        },
    };
    let (bpk, json) = save(&model, &info, out)?;
    Ok(Imported {
        arch,
        report,
        bpk,
        json,
        sha256,
        checked: checksum.is_some(),
    })
}
