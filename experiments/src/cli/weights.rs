//! `import`, `export`, `predict` and `cam`: torchvision weights in and out, and what a model
//! sees in one's own images.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use convlab_models::Arch;

#[derive(Args)]
pub struct ImportArgs {
    /// Architecture the weights are for (alexnet, vgg11…vgg19[-bn], resnet18…resnet152,
    /// googlenet).
    pub arch: String,
    /// A torchvision state dict: `torch.save(model.state_dict(), "x.pth")` or a safetensors file.
    pub file: PathBuf,
    /// Where to write the weights (`.bpk` and `.json`; default: `runs/weights/<file name>`,
    /// inside the git-ignored `runs/` where runs and their outputs go).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Build the model for this many classes: the final classifier is then new (not imported).
    #[arg(long)]
    pub classes: Option<usize>,
    /// GoogLeNet: import the auxiliary heads too.
    #[arg(long)]
    pub aux_heads: bool,
    /// The file's expected SHA-256: whole, or its first 8+ hex digits (torchvision's file names
    /// carry them, e.g. `resnet18-f37072fd.pth`). A mismatch is refused. A `<file>.sha256`
    /// sidecar beside the file is checked too.
    #[arg(long, value_name = "SHA256")]
    pub checksum: Option<String>,
}

#[derive(Args)]
pub struct ExportArgs {
    /// A weights file (`convlab import`) or a run directory (its best checkpoint).
    pub source: PathBuf,
    /// File format of the export.
    #[arg(long, value_enum, default_value = "safetensors")]
    pub format: ExportFormat,
    /// Output file (default: `model.safetensors` / `model.onnx` inside a run directory,
    /// `<weights>.safetensors` / `<weights>.onnx` beside a weights file).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where a run's dataset lives (for a run directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct PredictArgs {
    /// A weights file (`convlab import`) or a run directory (its best checkpoint).
    pub weights: PathBuf,
    /// Image files (PNG or JPEG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Classes to print per image.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Where a run's dataset lives (for its normalisation statistics and class names).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// safetensors with torchvision's key names where torchvision has the architecture,
    /// convlab's module paths otherwise (PyTorch: `safetensors.torch.load_file`).
    Safetensors,
    /// ONNX (opset 17) of the model in evaluation mode, for onnxruntime and other runtimes:
    /// input `float32[batch, C, H, W]` normalised as in training (mean and std in the
    /// metadata), output `logits`.
    Onnx,
}

#[derive(Args)]
pub struct CamArgs {
    /// A run directory (its best checkpoint) or a weights file (`convlab import`).
    pub weights: PathBuf,
    /// Image files (PNG or JPEG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// The class to map (default: each image's predicted class).
    #[arg(long)]
    pub class: Option<usize>,
    /// Where the pictures go (`<image stem>-cam.png`; default: `cam/` inside the run directory,
    /// or `runs/cam/` for a weights file).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where a run's dataset lives (for its normalisation statistics and class names).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn import(a: ImportArgs) -> Result<()> {
    let arch: Arch = a.arch.parse()?;
    let out = a.out.unwrap_or_else(|| {
        let stem = a.file.file_stem().unwrap_or(a.file.as_os_str());
        PathBuf::from("runs/weights")
            .join(stem)
            .with_extension("bpk")
    });
    let crate::run::weights::Imported {
        report,
        bpk,
        json,
        sha256,
        checked,
        ..
    } = crate::run::weights::import(
        arch,
        &a.file,
        a.classes,
        a.aux_heads,
        &out,
        a.checksum.as_deref(),
    )?;
    println!(
        "{}: sha256 {sha256} ({})",
        a.file.display(),
        if checked {
            "matches --checksum"
        } else {
            "not checked: pass --checksum to refuse any other file"
        }
    );
    println!(
        "{}: {} tensors imported into {}{}{}",
        a.file.display(),
        report.loaded,
        arch.name(),
        if report.prefix.is_empty() {
            String::new()
        } else {
            format!(" (keys under `{}`)", report.prefix)
        },
        if report.not_imported.is_empty() {
            String::new()
        } else {
            format!("; new, not imported: {}", report.not_imported.join(", "))
        }
    );
    println!(
        "skipped {} keys (num_batches_tracked, classifiers for other class counts, absent auxiliary heads); wrote {} and {}",
        report.skipped.len(),
        bpk.display(),
        json.display()
    );
    Ok(())
}

pub fn export(a: ExportArgs) -> Result<()> {
    let device = burn::tensor::Device::flex();
    let (model, info) = crate::run::weights::load(&a.source, &device, a.data_dir.as_deref())?;
    let ext = match a.format {
        ExportFormat::Safetensors => "safetensors",
        ExportFormat::Onnx => "onnx",
    };
    let out = a.out.unwrap_or_else(|| {
        if a.source.is_dir() {
            a.source.join(format!("model.{ext}"))
        } else {
            crate::run::weights::paths(&a.source).0.with_extension(ext)
        }
    });
    match a.format {
        ExportFormat::Onnx => {
            let list = |v: &[f32]| {
                v.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let metadata = [
                ("mean", list(&info.mean)),
                ("std", list(&info.std)),
                ("class_names", serde_json::to_string(&info.class_names)?),
                ("source", info.source.clone()),
            ];
            let nodes = convlab_models::onnx::export(&model, &out, &metadata)?;
            let [c, h, w] = info.input;
            println!(
                "{}: ONNX opset 17, {nodes} nodes, {} ({} classes) in evaluation mode; input \
                 float32[batch, {c}, {h}, {w}]: pixels in [0, 1], minus mean [{}], divided by std [{}] (also in \
                 the file's metadata), output `logits`; in Python: \
                 onnxruntime.InferenceSession(\"{}\").run(None, {{\"input\": x}})",
                out.display(),
                info.arch,
                info.classes,
                list(&info.mean),
                list(&info.std),
                out.display()
            );
        }
        // Safetensors: torchvision's names where torchvision has the architecture, convlab's
        // module paths otherwise.
        ExportFormat::Safetensors
            if convlab_models::torchvision::torchvision_archs().contains(&model.arch)
                && model.cut.is_none() =>
        {
            let n = convlab_models::torchvision::export(&model, &out)?;
            println!(
                "{}: {n} tensors of {} ({} classes) with torchvision's names; in PyTorch: \
                 torchvision.models.{}(num_classes={}).load_state_dict(safetensors.torch.load_file(\"{}\"))",
                out.display(),
                info.arch,
                info.classes,
                info.arch.replace('-', "_"),
                info.classes,
                out.display()
            );
        }
        ExportFormat::Safetensors => {
            let n = convlab_models::torchvision::export_own(&model, &out)?;
            println!(
                "{}: {n} tensors of {} ({} classes) with convlab's module paths (no torchvision \
                 counterpart), in PyTorch's layout; in Python: safetensors.torch.load_file(\"{}\")",
                out.display(),
                info.arch,
                info.classes,
                out.display()
            );
        }
    }
    Ok(())
}

pub fn cam(a: CamArgs) -> Result<()> {
    let out = a.out.clone().unwrap_or_else(|| {
        if a.weights.is_dir() {
            a.weights.join("cam")
        } else {
            PathBuf::from("runs/cam")
        }
    });
    let results =
        crate::inspect::cam::cam(&a.weights, &a.images, a.class, &out, a.data_dir.as_deref())?;
    for r in &results {
        if a.json {
            println!("{}", serde_json::to_string(r)?);
            continue;
        }
        let top: Vec<String> = r
            .top
            .iter()
            .map(|(k, n, p)| format!("{n} ({k}) {:.1}%", 100.0 * p))
            .collect();
        println!(
            "{}: {} for class {} ({}); top: {} -> {}",
            r.image,
            r.method.name(),
            r.class,
            r.class_name,
            top.join(", "),
            r.picture
        );
    }
    Ok(())
}

pub fn predict(a: PredictArgs) -> Result<()> {
    let p = crate::inspect::predict::predict(&a.weights, &a.images, a.top, a.data_dir.as_deref())?;
    crate::inspect::predict::print(&p, a.json)
}
