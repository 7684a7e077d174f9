//! The `convlab` commands: each one's arguments (clap) and what it does. The binary only
//! parses the command line and calls [`run`].

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use convlab_models::{Arch, ModelConfig, parse_input, summarize};

use crate::backend::{Backend, select};
use crate::eval::{CheckpointChoice, Split};
use crate::recipe::{Recipe, builtin_names};
use crate::rundir::RunStatus;
use crate::table::{self, group};
use crate::train::{ResumeOptions, TrainOptions};

#[derive(Subcommand)]
pub enum Command {
    /// List every architecture with its default input, parameters and MACs.
    Models {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Per-layer table of one architecture: layer path, kind, output shape, parameters, MACs.
    Summary(SummaryArgs),
    /// Same weights and batch on several backends: logits, gradients, parameters after N SGD
    /// steps and losses against the first backend; exits non-zero beyond the tolerance.
    CompareBackends(CompareArgs),
    /// Training and inference images/s and peak memory per architecture and backend.
    Bench(BenchArgs),
    /// List the training recipes with one-line descriptions.
    Recipes,
    /// Train a recipe (built-in name or path to a .toml), or resume a run directory.
    Train(TrainArgs),
    /// Reload a run's recipe and a checkpoint; print loss, top-1, top-5 and the confusion matrix.
    Eval(EvalArgs),
    /// Fetch, inspect and verify datasets (cifar10, cifar100, mnist, fashion-mnist).
    Data {
        #[command(subcommand)]
        action: DataAction,
    },
    /// Run an ablation suite (a grid of variants × seeds) locally or on Slurm, resumably, and
    /// report it; or `ablate report <dir>` to rebuild a report.
    Ablate(AblateArgs),
    /// Read a torchvision state dict (.pth or .safetensors) into one of our models, checking
    /// that every tensor is used once with the right shape; write a convlab weights file.
    Import(ImportArgs),
    /// Write a weights file or a run's best checkpoint with torchvision's key names
    /// (safetensors), loadable by `torchvision.models.<arch>().load_state_dict`.
    Export(ExportArgs),
    /// Top-k classes of images with imported weights (ImageNet names) or a run's model.
    Predict(PredictArgs),
    /// List the ablation suites with one line each.
    Ablations,
    /// Random search over recipe keys (a TOML space), coarse to fine, with successive halving;
    /// resumable; writes trials.csv, search.png and the best recipe (best.toml).
    Search(SearchArgs),
    /// Class activation maps of images (CAM for a global-average-pooling head, Grad-CAM
    /// otherwise), drawn over them as PNGs with the top classes.
    Cam(CamArgs),
    /// Write a run's report: one self-contained HTML page (recipe, model, curves, diagnostics
    /// and their warnings, filters, confusion matrix, test metrics). Runs write it when they end.
    Report(ReportArgs),
    /// Average the softmax outputs of several runs (or of a suite variant's seeds) on the test
    /// split; print each member's accuracy, the ensemble's and the gain.
    Ensemble(EnsembleArgs),
}

#[derive(Args)]
pub struct SearchArgs {
    /// Base recipe (name or path).
    pub recipe: String,
    /// The search space (TOML: params and stages; see `experiments/search/`).
    #[arg(long)]
    pub space: PathBuf,
    /// Trials of the first stage (default: the space's).
    #[arg(long)]
    pub trials: Option<usize>,
    /// Run only the first N stages.
    #[arg(long)]
    pub stages: Option<usize>,
    #[command(flatten)]
    pub runs: RunnerArgs,
    /// The search's name: its directory under --out (default: `<recipe>-<space file>`).
    #[arg(long)]
    pub name: Option<String>,
    /// Where searches keep their trials and results (`<out>/<name>/`).
    #[arg(long, default_value = "searches")]
    pub out: PathBuf,
}

/// How `ablate` and `search` carry out their runs.
#[derive(Args)]
pub struct RunnerArgs {
    /// Runs at once (local: processes sharing the cores; slurm: the array's task cap).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    #[arg(long, value_enum, default_value = "local")]
    pub executor: crate::ablate::ExecutorKind,
    /// Run failed runs again (each is set aside, not deleted).
    #[arg(long)]
    pub retry_failed: bool,
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct EnsembleArgs {
    /// Run directories, or a suite report directory with --variant (its seeds).
    #[arg(required = true)]
    pub members: Vec<PathBuf>,
    /// With a suite report directory: the variant whose runs are the members.
    #[arg(long)]
    pub variant: Option<String>,
    #[arg(long, value_enum, default_value = "best")]
    pub checkpoint: CheckpointChoice,
    /// Test-time augmentation: `flip` averages each image with its mirror image.
    #[arg(long, value_enum)]
    pub tta: Option<crate::ensemble::Tta>,
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AblateArgs {
    #[command(subcommand)]
    pub action: Option<AblateAction>,
    /// Suite name (see `convlab ablations`) or path to a suite .toml.
    pub suite: Option<String>,
    #[arg(long, value_enum, default_value = "short")]
    pub budget: crate::suite::BudgetName,
    /// Seeds per variant (default: the suite's).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Train on this dataset instead of the base recipe's (e.g. fashion-mnist).
    #[arg(long)]
    pub dataset: Option<String>,
    #[command(flatten)]
    pub runs: RunnerArgs,
    /// Where suites keep their runs and reports (`<out>/<suite>/`).
    #[arg(long, default_value = "ablations")]
    pub out: PathBuf,
    /// Do not download missing data.
    #[arg(long)]
    pub no_fetch: bool,
    /// Slurm: return after submitting (then `convlab ablate report <dir>`).
    #[arg(long)]
    pub no_wait: bool,
    /// Print the runs (variant, seed, id, state, model size, overrides) and stop.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Subcommand)]
pub enum AblateAction {
    /// Rebuild a report directory's tables and plots from its runs.
    Report {
        /// A report directory, e.g. ablations/residual/20261122-120000.
        dir: PathBuf,
    },
}

impl Command {
    /// The backend a command will run on, when it is known before it starts (for
    /// [`crate::backend::prepare_process`]).
    pub fn backend_hint(&self) -> Option<Backend> {
        match self {
            Command::Train(a) => match &a.resume {
                Some(dir) => crate::rundir::RunDir::open(dir)
                    .and_then(|r| r.info())
                    .ok()
                    .and_then(|i| i.backend.parse().ok()),
                None => a.backend,
            },
            Command::Eval(a) => Some(a.backend),
            Command::Ensemble(a) => Some(a.backend),
            _ => None,
        }
    }
}

/// Runs a parsed command.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Models { json } => models(json),
        Command::Summary(a) => summary(a),
        Command::CompareBackends(a) => compare_backends(a),
        Command::Bench(a) => bench(a),
        Command::Recipes => recipes(),
        Command::Train(a) => train(a),
        Command::Eval(a) => eval(a),
        Command::Data { action } => crate::data_cmd::run(action),
        Command::Ablate(a) => ablate(a),
        Command::Import(a) => import(a),
        Command::Export(a) => export(a),
        Command::Predict(a) => crate::predict::print(
            &crate::predict::predict(&a.weights, &a.images, a.top, a.data_dir.as_deref())?,
            a.json,
        ),
        Command::Ablations => ablations(),
        Command::Search(a) => search(a),
        Command::Ensemble(a) => ensemble(a),
        Command::Cam(a) => cam(a),
        Command::Report(a) => report(a),
    }
}

fn search(a: SearchArgs) -> Result<()> {
    crate::search::search(&crate::search::SearchOptions {
        recipe: a.recipe,
        space: a.space,
        name: a.name,
        trials: a.trials,
        stages: a.stages,
        jobs: a.runs.jobs.max(1),
        executor: a.runs.executor,
        out: a.out,
        backend: a.runs.backend,
        data_dir: a.runs.data_dir,
        exe: std::env::current_exe()?,
        retry_failed: a.runs.retry_failed,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    })
    .map(|_| ())
}

fn ensemble(a: EnsembleArgs) -> Result<()> {
    let members = crate::ensemble::expand(&a.members, a.variant.as_deref())?;
    let r = crate::ensemble::ensemble(
        &members,
        &crate::ensemble::EnsembleOptions {
            checkpoint: a.checkpoint,
            tta: a.tta,
            backend: a.backend,
            data_dir: a.data_dir,
        },
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let mut t = table::new(&["member", "epoch", "test top-1 %"]);
    for m in &r.members {
        t.add_row(vec![
            m.run.display().to_string(),
            m.epoch.to_string(),
            format!("{:.2}", m.top1),
        ]);
    }
    print!("{t}");
    println!(
        "ensemble of {} ({} test images{}): top-1 {:.2}%; best member {:.2}% (gain {:+.2}), mean member {:.2}% (gain {:+.2})",
        r.members.len(),
        r.images,
        if r.tta.is_some() { ", flip TTA" } else { "" },
        r.top1,
        r.best_member(),
        r.top1 - r.best_member(),
        r.mean_member(),
        r.top1 - r.mean_member()
    );
    Ok(())
}

fn ablations() -> Result<()> {
    let mut t = table::new(&["suite", "runs", "question"]);
    for name in crate::suite::builtin_names() {
        let s = crate::suite::Suite::load(name)?;
        t.add_row(vec![
            name.to_string(),
            format!("{} × {}", s.variants().len(), s.seeds),
            s.question.clone(),
        ]);
    }
    print!("{t}");
    Ok(())
}

fn ablate(a: AblateArgs) -> Result<()> {
    if let Some(AblateAction::Report { dir }) = a.action {
        return crate::ablate::report_again(&dir);
    }
    let Some(suite) = a.suite else {
        bail!("name a suite (see `convlab ablations`) or `convlab ablate report <dir>`");
    };
    let opts = crate::ablate::AblateOptions {
        suite,
        plan: crate::plan::PlanOptions {
            budget: a.budget,
            seeds: a.seeds,
            dataset: a.dataset,
            out: a.out.clone(),
        },
        jobs: a.runs.jobs.max(1),
        executor: a.runs.executor,
        retry_failed: a.runs.retry_failed,
        out: a.out,
        backend: a.runs.backend,
        data_dir: a.runs.data_dir,
        fetch: !a.no_fetch,
        exe: std::env::current_exe()?,
        wait: !a.no_wait,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        dry_run: a.dry_run,
    };
    crate::ablate::ablate(&opts).map(|_| ())
}

#[derive(Args)]
pub struct ImportArgs {
    /// Architecture the weights are for (alexnet, vgg11…vgg19[-bn], resnet18…resnet152,
    /// googlenet).
    pub arch: String,
    /// A torchvision state dict: `torch.save(model.state_dict(), "x.pth")` or a safetensors file.
    pub file: PathBuf,
    /// Where to write the weights (`.bpk` and `.json`; default: beside the file).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Build the model for this many classes: the final classifier is then new (not imported).
    #[arg(long)]
    pub classes: Option<usize>,
    /// GoogLeNet: import the auxiliary heads too.
    #[arg(long)]
    pub aux_heads: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// A weights file (`convlab import`) or a run directory (its best checkpoint).
    pub source: PathBuf,
    #[arg(long, value_enum, default_value = "safetensors")]
    pub format: ExportFormat,
    /// Output file (default: `<source>.safetensors`).
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
    /// safetensors with torchvision's key names (PyTorch: `safetensors.torch.load_file`).
    Safetensors,
}

fn import(a: ImportArgs) -> Result<()> {
    let arch: Arch = a.arch.parse()?;
    let mut cfg = ModelConfig::new(arch);
    if let Some(c) = a.classes {
        cfg.classes = Some(c);
    }
    if a.aux_heads {
        cfg.aux_heads = Some(true);
    }
    let device = burn::tensor::Device::flex();
    let mut model = cfg.init(&device)?;
    let report = convlab_models::torchvision::import(&mut model, &a.file)?;
    let imagenet = model.classes == 1000;
    let (mean, std) = if matches!(arch.spec(), convlab_models::Spec::GoogLeNet { .. }) {
        // torchvision's pretrained GoogLeNet normalises to [-1, 1] (`transform_input`).
        (vec![0.5; 3], vec![0.5; 3])
    } else {
        (
            crate::weights::IMAGENET_MEAN.to_vec(),
            crate::weights::IMAGENET_STD.to_vec(),
        )
    };
    let info = crate::weights::WeightsInfo {
        arch: arch.name().to_string(),
        classes: model.classes,
        input: model.input,
        aux_heads: a.aux_heads,
        mean,
        std,
        class_names: vec![],
        labels: imagenet.then(|| "imagenet".to_string()),
        source: a.file.display().to_string(),
        preprocess: crate::weights::Preprocess::ResizeCrop {
            resize: model.input[1] * 256 / 224,
            crop: model.input[1],
        },
    };
    let out = a.out.unwrap_or_else(|| a.file.with_extension("bpk"));
    let (bpk, json) = crate::weights::save(&model, &info, &out)?;
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

fn export(a: ExportArgs) -> Result<()> {
    let device = burn::tensor::Device::flex();
    let (model, info) = crate::weights::load(&a.source, &device, a.data_dir.as_deref())?;
    let out = a.out.unwrap_or_else(|| {
        if a.source.is_dir() {
            a.source.join("model.safetensors")
        } else {
            crate::weights::paths(&a.source)
                .0
                .with_extension("safetensors")
        }
    });
    let n = match a.format {
        ExportFormat::Safetensors => convlab_models::torchvision::export(&model, &out)?,
    };
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
    Ok(())
}

pub use crate::data_cmd::DataAction;

#[derive(Args)]
pub struct SummaryArgs {
    /// Architecture name, e.g. vgg16-bn, resnet20 (see `convlab models`).
    pub arch: String,
    /// Input shape CxHxW (default: the architecture's own, e.g. 3x224x224).
    #[arg(long)]
    pub input: Option<String>,
    /// Number of classes (default: 1000 for ImageNet nets, 10 for CIFAR/MNIST nets).
    #[arg(long)]
    pub classes: Option<usize>,
    /// Width multiplier for channels and hidden layers.
    #[arg(long)]
    pub width: Option<f64>,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also run a forward pass of batch 2 on this backend and check the output shape.
    #[arg(long)]
    pub backend: Option<Backend>,
}

#[derive(Args)]
pub struct CompareArgs {
    /// Architectures (default: one width-reduced model per family).
    #[arg(long = "arch")]
    pub archs: Vec<String>,
    /// Comma-separated backends; the first is the reference.
    #[arg(long, default_value = "flex,ndarray,wgpu", value_delimiter = ',')]
    pub backends: Vec<Backend>,
    /// SGD steps (momentum 0.9) on the batch: parameters are compared after the first, losses
    /// over all of them.
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Learning rate of the SGD steps.
    #[arg(long, default_value_t = 0.02)]
    pub lr: f64,
    /// Width multiplier for --arch models (default 0.25; lenet5 always 1).
    #[arg(long)]
    pub width: Option<f64>,
    /// Input CxHxW for --arch models (default: the architecture's own).
    #[arg(long)]
    pub input: Option<String>,
    /// Seed of the weights and the batch.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct BenchArgs {
    #[arg(long = "arch")]
    pub archs: Vec<String>,
    /// Backends to measure (repeat the flag); default flex.
    #[arg(long = "backend")]
    pub backends: Vec<Backend>,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    #[arg(long)]
    pub json: bool,
    /// Internal: measure one model config (JSON) in this process.
    #[arg(long, hide = true)]
    pub one: Option<String>,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Recipe name (see `convlab recipes`) or path to a recipe .toml.
    #[arg(required_unless_present = "resume")]
    pub recipe: Option<String>,
    /// Continue the run in this directory from its last checkpoint (with its recipe, data and
    /// backend; only --epochs may change, to extend it).
    #[arg(long, conflicts_with = "recipe")]
    pub resume: Option<PathBuf>,
    /// With --resume: start from this epoch's checkpoint instead of the last one.
    #[arg(long, requires = "resume")]
    pub from_epoch: Option<usize>,
    /// auto (a hardware GPU through wgpu, else flex), flex, ndarray or wgpu.
    #[arg(long)]
    pub backend: Option<Backend>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Data directory (default: $CONVLAB_DATA, else the per-user cache directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where run directories are created.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Override any recipe field, e.g. --set optimizer.lr=0.05 --set model.width=0.5.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Train on K fixed batches without augmentation or regularisation (must reach 100%).
    #[arg(long)]
    pub overfit_batches: Option<usize>,
    /// Do not download missing data.
    #[arg(long)]
    pub no_fetch: bool,
    /// Plain per-epoch lines even on a terminal (instead of burn-train's TUI).
    #[arg(long)]
    pub no_tui: bool,
    /// Train into exactly this directory (it must not exist); ablation suites use it.
    #[arg(long, conflicts_with = "resume")]
    pub run_dir: Option<PathBuf>,
    /// The run's name (default: the recipe's); ablation suites use `<suite>-<variant>`.
    #[arg(long, conflicts_with = "resume")]
    pub name: Option<String>,
    /// Pause after this epoch (checkpoint kept, status interrupted, the recipe's schedule
    /// unchanged); `--resume` continues it exactly. Searches use it for successive halving.
    #[arg(long)]
    pub until_epoch: Option<usize>,
}

impl TrainArgs {
    /// The flags `--resume` cannot honour: a resumed run keeps its recipe, seed, batch size and
    /// backend (only `--epochs` may extend it).
    pub fn resume_conflicts(&self) -> Vec<&'static str> {
        let mut bad = vec![];
        if !self.set.is_empty() {
            bad.push("--set");
        }
        if self.lr.is_some() {
            bad.push("--lr");
        }
        if self.seed.is_some() {
            bad.push("--seed");
        }
        if self.batch_size.is_some() {
            bad.push("--batch-size");
        }
        if self.overfit_batches.is_some() {
            bad.push("--overfit-batches");
        }
        if self.backend.is_some() {
            bad.push("--backend");
        }
        bad
    }
}

#[derive(Args)]
pub struct EvalArgs {
    /// Run directory, e.g. runs/smoke/20261121-120000.
    pub run_dir: PathBuf,
    #[arg(long, value_enum, default_value = "test")]
    pub split: Split,
    #[arg(long, value_enum, default_value = "best")]
    pub checkpoint: CheckpointChoice,
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: Backend,
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Also draw the split's N most confidently misclassified images as a grid.
    #[arg(long, value_name = "N")]
    pub misclassified: Option<usize>,
    /// Where the grid goes (default: `misclassified.png` in the run directory).
    #[arg(long, requires = "misclassified")]
    pub picture: Option<PathBuf>,
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
    /// Where the pictures go (`<image stem>-cam.png`).
    #[arg(long, default_value = "cam")]
    pub out: PathBuf,
    /// Where a run's dataset lives (for its normalisation statistics and class names).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ReportArgs {
    /// Run directory.
    pub run_dir: PathBuf,
    /// Where the page goes (default: `report.html` in the run directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn cam(a: CamArgs) -> Result<()> {
    let results = crate::cam::cam(
        &a.weights,
        &a.images,
        a.class,
        &a.out,
        a.data_dir.as_deref(),
    )?;
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

fn report(a: ReportArgs) -> Result<()> {
    let out = a.out.unwrap_or_else(|| a.run_dir.join(crate::html::FILE));
    crate::html::write(&a.run_dir, &out)?;
    println!("{}", out.display());
    Ok(())
}

fn models(json: bool) -> Result<()> {
    let mut t = table::new(&["name", "input", "classes", "params", "MACs", "description"]);
    for &arch in Arch::ALL {
        let s = summarize(arch, None, None).with_context(|| format!("summarising {arch}"))?;
        let [c, h, w] = s.input;
        if json {
            let v = serde_json::json!({
                "name": arch.name(), "input": format!("{c}x{h}x{w}"),
                "classes": arch.default_classes(), "params": s.total_params,
                "macs": s.total_macs, "about": arch.about(),
            });
            println!("{v}");
        } else {
            t.add_row(vec![
                arch.name().to_string(),
                format!("{c}x{h}x{w}"),
                arch.default_classes().to_string(),
                group(s.total_params),
                group(s.total_macs),
                arch.about().to_string(),
            ]);
        }
    }
    if !json {
        print!("{t}");
    }
    Ok(())
}

fn summary(a: SummaryArgs) -> Result<()> {
    let arch: Arch = a.arch.parse()?;
    let mut cfg = ModelConfig::new(arch);
    cfg.input = a.input.as_deref().map(parse_input).transpose()?;
    cfg.classes = a.classes;
    cfg.width = a.width;
    let model = cfg
        .init(&select(Backend::Flex)?.device)
        .with_context(|| format!("building {arch}"))?;
    let summary = model.summary();
    if let Some(b) = a.backend {
        let s = select(b)?;
        let m = cfg.init(&s.device)?;
        let [c, h, w] = m.input;
        let x = burn::tensor::Tensor::<4>::zeros([2, c, h, w], &s.device);
        let dims = m.forward(x).dims();
        let expected = summary.output.with_batch(2);
        anyhow::ensure!(
            dims.to_vec() == expected,
            "forward pass on {} gave {dims:?}, the summary says {expected:?}",
            s.description
        );
        eprintln!(
            "forward pass on {}: output {dims:?} as traced",
            s.description
        );
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", summary.render());
    }
    Ok(())
}

fn recipes() -> Result<()> {
    let mut t = table::new(&["recipe", "arch", "description"]);
    for name in builtin_names() {
        let r = Recipe::load(name, &[])?;
        t.add_row(vec![
            name.to_string(),
            r.model.arch.name().to_string(),
            r.summary_line().to_string(),
        ]);
    }
    print!("{t}");
    Ok(())
}

fn compare_backends(a: CompareArgs) -> Result<()> {
    use crate::compare::{CompareConfig, compare, default_models, render};
    let models =
        if a.archs.is_empty() {
            default_models()
        } else {
            a.archs
                .iter()
                .map(|name| {
                    let arch: Arch = name.parse()?;
                    let mut m = ModelConfig::new(arch).with_width(
                        a.width
                            .unwrap_or(if arch == Arch::LeNet5 { 1.0 } else { 0.25 }),
                    );
                    if ModelConfig::applicable_knobs(arch).contains(&"dropout") {
                        m = m.with_dropout(0.0);
                    }
                    m.input = a.input.as_deref().map(parse_input).transpose()?;
                    Ok(m)
                })
                .collect::<Result<Vec<_>>>()?
        };
    let cfg = CompareConfig {
        models,
        backends: a.backends,
        steps: a.steps.max(1),
        batch: a.batch.max(1),
        lr: a.lr,
        seed: a.seed,
        tolerance: Default::default(),
    };
    let rows = compare(&cfg)?;
    if a.json {
        for r in &rows {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        let t = cfg.tolerance;
        println!(
            "reference: {}; {} SGD steps at lr {}; tolerances (each tensor against its own scale): logits {:e}, gradients {:e}, parameters after step 1 {:e} of their update, losses of every step {:e}",
            cfg.backends[0], cfg.steps, cfg.lr, t.logits, t.grads, t.params, t.losses
        );
        print!("{}", render(&rows, cfg.steps));
    }
    let bad: Vec<String> = rows
        .iter()
        .filter(|r| !r.within_tolerance)
        .map(|r| format!("{} on {}", r.arch, r.backend))
        .collect();
    anyhow::ensure!(bad.is_empty(), "beyond tolerance: {}", bad.join("; "));
    Ok(())
}

fn bench(a: BenchArgs) -> Result<()> {
    use crate::bench::{bench_all, bench_one, default_models, render};
    let backends = if a.backends.is_empty() {
        vec![Backend::Flex]
    } else {
        a.backends
    };
    if let Some(spec) = a.one {
        let cfg: ModelConfig = serde_json::from_str(&spec)?;
        let row = bench_one(&cfg, backends[0], a.batch, a.steps.max(1), a.warmup)?;
        println!("{}", serde_json::to_string(&row)?);
        return Ok(());
    }
    // `--arch` picks from the default set (with its knobs, as scripts/bench_torch.py builds the
    // same models) when the name is there, else the architecture's published configuration.
    let defaults = default_models();
    let models = if a.archs.is_empty() {
        defaults
    } else {
        a.archs
            .iter()
            .map(|name| {
                let arch: Arch = name.parse()?;
                Ok(defaults
                    .iter()
                    .find(|m| m.arch == arch)
                    .cloned()
                    .unwrap_or_else(|| ModelConfig::new(arch)))
            })
            .collect::<Result<Vec<_>>>()?
    };
    eprintln!("flex kernels: {}", convlab_kernels::conv_engine());
    let exe = std::env::current_exe()?;
    let rows = bench_all(&exe, &models, &backends, a.batch, a.steps.max(1), a.warmup)?;
    if a.json {
        for r in &rows {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        print!("{}", render(&rows));
    }
    Ok(())
}

fn train(a: TrainArgs) -> Result<()> {
    let until = a.until_epoch;
    let mut opts = TrainOptions {
        backend: a.backend.unwrap_or_default(),
        data_dir: a.data_dir.clone(),
        out: a.out.clone(),
        run_dir: a.run_dir.clone(),
        fetch: !a.no_fetch,
        overfit_batches: a.overfit_batches,
        handle_signals: true,
        stop_after_iterations: None,
        nan_after_iterations: None,
        tui: !a.no_tui,
        until_epoch: a.until_epoch,
    };
    let outcome = if let Some(dir) = &a.resume {
        let bad = a.resume_conflicts();
        if !bad.is_empty() {
            bail!(
                "--resume continues a run with the recipe, seed, batch size and backend it started with; {} cannot change them (only --epochs may extend the run); start a new run instead",
                bad.join(", ")
            );
        }
        opts.overfit_batches = None;
        crate::train::resume(
            dir,
            &opts,
            &ResumeOptions {
                epochs: a.epochs,
                from_epoch: a.from_epoch,
            },
        )?
    } else {
        let mut sets = a.set;
        let mut flag = |key: &str, v: Option<String>| {
            if let Some(v) = v {
                sets.push(format!("{key}={v}"));
            }
        };
        flag("epochs", a.epochs.map(|v| v.to_string()));
        flag("batch_size", a.batch_size.map(|v| v.to_string()));
        flag("optimizer.lr", a.lr.map(|v| v.to_string()));
        flag("seed", a.seed.map(|v| v.to_string()));
        let name = a.recipe.unwrap_or_default();
        let mut recipe = Recipe::load(&name, &sets)?;
        if let Some(n) = a.name {
            recipe.name = n;
        }
        crate::train::train(recipe, &opts)?
    };
    println!("run directory: {}", outcome.dir().display());
    match outcome.summary.status {
        RunStatus::Completed | RunStatus::EarlyStopped => Ok(()),
        // Paused where --until-epoch asked.
        RunStatus::Interrupted if until.is_some_and(|u| outcome.summary.epochs >= u) => Ok(()),
        status => bail!("run ended: {status:?}"),
    }
}

fn eval(a: EvalArgs) -> Result<()> {
    let r = crate::eval::evaluate_run(
        &a.run_dir,
        a.split,
        a.checkpoint,
        a.backend,
        a.data_dir.as_deref(),
    )?;
    let e = &r.evaluation;
    println!(
        "{:?} split, epoch {}, {} images on {}: loss {:.4}  top-1 {:.2}%  top-5 {:.2}%{}",
        r.split,
        r.epoch,
        e.images,
        r.device,
        e.loss,
        e.top1,
        e.top5,
        if e.no_prediction > 0 {
            format!(
                "  ({} rows with NaN logits, counted wrong)",
                e.no_prediction
            )
        } else {
            String::new()
        }
    );
    print!("{}", confusion_table(&e.confusion, &r.class_names));
    if let Some(n) = a.misclassified {
        let picture = a
            .picture
            .unwrap_or_else(|| a.run_dir.join("misclassified.png"));
        let m = crate::eval::misclassified_picture(
            &a.run_dir,
            a.split,
            a.checkpoint,
            a.backend,
            a.data_dir.as_deref(),
            n,
            &picture,
        )?;
        println!("{} most confident mistakes: {}", m.len(), picture.display());
    }
    Ok(())
}

/// The confusion matrix (rows: true class, columns: predicted class index).
pub fn confusion_table(confusion: &[Vec<u64>], names: &[String]) -> String {
    let mut header = vec!["true \\ predicted".to_string()];
    header.extend((0..confusion.len()).map(|j| j.to_string()));
    let refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut t = table::new(&refs);
    for (i, row) in confusion.iter().enumerate() {
        let name = names.get(i).map_or(i.to_string(), |n| format!("{i} {n}"));
        let mut cells = vec![name];
        cells.extend(row.iter().map(|v| v.to_string()));
        t.add_row(cells);
    }
    t.to_string()
}
