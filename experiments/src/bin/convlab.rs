//! `convlab`: define, inspect and train classic CNNs on Burn.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use convlab_models::{Arch, ModelConfig, parse_input, summarize};

#[derive(Parser)]
#[command(
    name = "convlab",
    version,
    about = "Classic CNNs (LeNet … ResNet) on Burn"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every architecture with its default input, parameters and MACs.
    Models {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Per-layer table of one architecture: layer path, kind, output shape, parameters, MACs.
    Summary {
        /// Architecture name, e.g. vgg16-bn, resnet20 (see `convlab models`).
        arch: String,
        /// Input shape CxHxW (default: the architecture's own, e.g. 3x224x224).
        #[arg(long)]
        input: Option<String>,
        /// Number of classes (default: 1000 for ImageNet nets, 10 for CIFAR/MNIST nets).
        #[arg(long)]
        classes: Option<usize>,
        /// Width multiplier for channels and hidden layers.
        #[arg(long)]
        width: Option<f64>,
        /// Print the rows as JSON.
        #[arg(long)]
        json: bool,
        /// Also run a forward pass of batch 2 on this backend and check the output shape.
        #[arg(long)]
        backend: Option<String>,
    },
    /// Same weights and batches on several backends: logits, gradients and loss after N steps
    /// against the first backend, ms per step; exits non-zero beyond the tolerance.
    CompareBackends {
        /// Architectures (default: one width-reduced model per family).
        #[arg(long = "arch")]
        archs: Vec<String>,
        /// Comma-separated backends; the first is the reference.
        #[arg(long, default_value = "flex,ndarray,wgpu", value_delimiter = ',')]
        backends: Vec<String>,
        /// SGD steps before the loss is compared (batch norm on small batches makes later
        /// steps amplify last-bit differences; 1 checks the update itself).
        #[arg(long, default_value_t = 1)]
        steps: usize,
        #[arg(long, default_value_t = 4)]
        batch: usize,
        /// Learning rate of the SGD steps (momentum 0.9).
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        /// Width multiplier for --arch models (default 0.25; lenet5 always 1).
        #[arg(long)]
        width: Option<f64>,
        /// Input CxHxW for --arch models (default: the architecture's own).
        #[arg(long)]
        input: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Training and inference images/s and peak memory per architecture and backend.
    Bench {
        #[arg(long = "arch")]
        archs: Vec<String>,
        /// Backends to measure (repeat the flag); default flex.
        #[arg(long = "backend")]
        backends: Vec<String>,
        #[arg(long, default_value_t = 128)]
        batch: usize,
        #[arg(long, default_value_t = 5)]
        steps: usize,
        #[arg(long, default_value_t = 1)]
        warmup: usize,
        #[arg(long)]
        json: bool,
        /// Internal: measure one model config (JSON) in this process.
        #[arg(long, hide = true)]
        one: Option<String>,
    },
    /// List the training recipes with one-line descriptions.
    Recipes,
    /// Train a recipe (built-in name or path to a .toml), or resume a run directory.
    Train(TrainArgs),
    /// Reload a run's recipe and a checkpoint; print loss, top-1, top-5 and the confusion matrix.
    Eval {
        /// Run directory, e.g. runs/smoke/20261121-120000.
        run_dir: std::path::PathBuf,
        /// Which split to evaluate.
        #[arg(long, default_value = "test")]
        split: String,
        /// Which checkpoint: best (lowest validation loss) or last.
        #[arg(long, default_value = "best")]
        checkpoint: String,
        /// auto, flex, ndarray or wgpu.
        #[arg(long, default_value = "auto")]
        backend: String,
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
    },
    /// Fetch, inspect and verify datasets (cifar10, cifar100, mnist, fashion-mnist).
    Data {
        #[command(subcommand)]
        action: DataAction,
    },
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Recipe name (see `convlab recipes`) or path to a recipe .toml.
    #[arg(required_unless_present = "resume")]
    recipe: Option<String>,
    /// Continue the run in this directory from its last checkpoint.
    #[arg(long, conflicts_with = "recipe")]
    resume: Option<std::path::PathBuf>,
    /// auto (a hardware GPU through wgpu, else flex), flex, ndarray or wgpu.
    #[arg(long, default_value = "auto")]
    backend: String,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    seed: Option<u64>,
    /// Data directory (default: $CONVLAB_DATA, else the per-user cache directory).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Where run directories are created.
    #[arg(long, default_value = "runs")]
    out: std::path::PathBuf,
    /// Override any recipe field, e.g. --set optimizer.lr=0.05 --set model.width=0.5.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Train on K fixed batches without augmentation or regularisation (must reach 100%).
    #[arg(long)]
    overfit_batches: Option<usize>,
    /// Do not download missing data.
    #[arg(long)]
    no_fetch: bool,
    /// Plain per-epoch lines even on a terminal (instead of burn-train's TUI).
    #[arg(long)]
    no_tui: bool,
}

#[derive(Subcommand)]
enum DataAction {
    /// Download what is missing (files already present are used as they are).
    Fetch(DataArgs),
    /// Where the dataset is, file sizes, class names and checksum state.
    Info(DataArgs),
    /// Check every file's size, format and checksum; exits non-zero on any problem.
    Verify(DataArgs),
    /// Input-pipeline benchmark: CIFAR-sized crop + flip + normalise + batch on one core.
    Bench {
        /// Images per measurement.
        #[arg(long, default_value_t = 50_000)]
        images: usize,
        /// Batch size.
        #[arg(long, default_value_t = 128)]
        batch: usize,
    },
}

#[derive(clap::Args)]
struct DataArgs {
    /// Dataset name: cifar10, cifar100, mnist, fashion-mnist.
    name: String,
    /// Data directory (default: $CONVLAB_DATA, else the per-user cache directory).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    let backend = match &cli.command {
        Command::Train(a) => Some(a.backend.as_str()),
        Command::Eval { backend, .. } => Some(backend.as_str()),
        _ => None,
    };
    if let Some(b @ ("flex" | "ndarray")) = backend {
        pin_default_device(b);
    }
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Burn materialises restored optimizer state on `Device::default()`, which prefers wgpu when
/// it is compiled in; with a CPU backend chosen, point the default at that backend so resuming
/// does not start a GPU (or software Vulkan) runtime.
#[allow(unsafe_code)]
fn pin_default_device(backend: &str) {
    if std::env::var_os("BURN_DEVICE").is_none() {
        // SAFETY: called first thing in `main`, before any thread exists, so nothing reads
        // the environment concurrently.
        unsafe { std::env::set_var("BURN_DEVICE", backend) };
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Models { json } => models(json),
        Command::Data { action } => data(action),
        Command::Recipes => {
            use convlab_experiments::recipe::{Recipe, builtin_names};
            for name in builtin_names() {
                let r = Recipe::load(name, &[])?;
                println!(
                    "{name:<16} {:<16} {}",
                    r.model.arch.name(),
                    r.summary_line()
                );
            }
            Ok(())
        }
        Command::Train(args) => train(args),
        Command::CompareBackends {
            archs,
            backends,
            steps,
            batch,
            lr,
            width,
            input,
            json,
        } => {
            use convlab_experiments::compare::{CompareConfig, compare, default_models, render};
            let models = if archs.is_empty() {
                default_models()
            } else {
                archs
                    .iter()
                    .map(|a| {
                        let arch: Arch = a.parse()?;
                        let mut m = ModelConfig::new(arch).with_width(
                            width.unwrap_or(if arch == Arch::LeNet5 { 1.0 } else { 0.25 }),
                        );
                        if ModelConfig::applicable_knobs(arch).contains(&"dropout") {
                            m = m.with_dropout(0.0);
                        }
                        m.input = input.as_deref().map(parse_input).transpose()?;
                        Ok(m)
                    })
                    .collect::<Result<Vec<_>>>()?
            };
            let backends = backends
                .iter()
                .map(|b| b.parse())
                .collect::<Result<Vec<_>, _>>()?;
            let cfg = CompareConfig {
                models,
                backends,
                steps: steps.max(1),
                batch: batch.max(1),
                lr,
                seed: 0,
                tolerance: Default::default(),
            };
            let rows = compare(&cfg)?;
            if json {
                for r in &rows {
                    println!("{}", serde_json::to_string(r)?);
                }
            } else {
                let t = cfg.tolerance;
                println!(
                    "reference: {}; tolerance (relative to max(1, max |reference|)): logits {:e}, gradients {:e}, loss after {} SGD steps {:e}",
                    cfg.backends[0], t.logits, t.grads, cfg.steps, t.loss_after_steps
                );
                print!("{}", render(&rows, cfg.steps));
            }
            let bad: Vec<String> = rows
                .iter()
                .filter(|r| !r.within_tolerance)
                .map(|r| {
                    format!(
                        "{} on {} (worst gradient: {})",
                        r.arch, r.backend, r.worst_param
                    )
                })
                .collect();
            anyhow::ensure!(bad.is_empty(), "beyond tolerance: {}", bad.join("; "));
            Ok(())
        }
        Command::Bench {
            archs,
            backends,
            batch,
            steps,
            warmup,
            json,
            one,
        } => {
            use convlab_experiments::bench::{bench_all, bench_one, default_models, render};
            let backends: Vec<convlab_experiments::Backend> = if backends.is_empty() {
                vec![convlab_experiments::Backend::Flex]
            } else {
                backends
                    .iter()
                    .map(|b| b.parse())
                    .collect::<Result<_, _>>()?
            };
            if let Some(spec) = one {
                let cfg: ModelConfig = serde_json::from_str(&spec)?;
                let row = bench_one(&cfg, backends[0], batch, steps.max(1), warmup)?;
                println!("{}", serde_json::to_string(&row)?);
                return Ok(());
            }
            let models = if archs.is_empty() {
                default_models()
            } else {
                archs
                    .iter()
                    .map(|a| Ok(ModelConfig::new(a.parse()?)))
                    .collect::<Result<Vec<_>>>()?
            };
            let exe = std::env::current_exe()?;
            let rows = bench_all(&exe, &models, &backends, batch, steps.max(1), warmup)?;
            if json {
                for r in &rows {
                    println!("{}", serde_json::to_string(r)?);
                }
            } else {
                print!("{}", render(&rows));
            }
            Ok(())
        }
        Command::Eval {
            run_dir,
            split,
            checkpoint,
            backend,
            data_dir,
        } => {
            let backend = backend.parse()?;
            let (epoch, e, names) = convlab_experiments::eval::evaluate_run(
                &run_dir,
                &split,
                &checkpoint,
                backend,
                data_dir.as_deref(),
            )?;
            println!(
                "{split} (epoch {epoch}, {} images): loss {:.4}  top-1 {:.2}%  top-5 {:.2}%",
                e.images, e.loss, e.top1, e.top5
            );
            print!(
                "{}",
                convlab_experiments::eval::render_confusion(&e, &names)
            );
            Ok(())
        }
        Command::Summary {
            arch,
            input,
            classes,
            width,
            json,
            backend,
        } => {
            let arch: Arch = arch.parse()?;
            let mut cfg = ModelConfig::new(arch);
            cfg.input = input.as_deref().map(parse_input).transpose()?;
            cfg.classes = classes;
            cfg.width = width;
            let model = cfg
                .init(&convlab_experiments::select(convlab_experiments::Backend::Flex)?.device)
                .with_context(|| format!("building {arch}"))?;
            let summary = model.summary();
            if let Some(b) = backend {
                let s = convlab_experiments::select(b.parse()?)?;
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
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!("{}", summary.render());
            }
            Ok(())
        }
    }
}

fn models(json: bool) -> Result<()> {
    let mut rows = Vec::new();
    for &arch in Arch::ALL {
        let s = summarize(arch, None, None).with_context(|| format!("summarising {arch}"))?;
        let [c, h, w] = s.input;
        rows.push((
            arch,
            format!("{c}x{h}x{w}"),
            arch.default_classes(),
            s.total_params,
            s.total_macs,
        ));
    }
    if json {
        for (arch, input, classes, params, macs) in rows {
            let v = serde_json::json!({
                "name": arch.name(), "input": input, "classes": classes,
                "params": params, "macs": macs, "about": arch.about(),
            });
            println!("{v}");
        }
        return Ok(());
    }
    println!(
        "{:<16} {:<11} {:>7} {:>13} {:>16}  description",
        "name", "input", "classes", "params", "MACs"
    );
    for (arch, input, classes, params, macs) in rows {
        println!(
            "{:<16} {:<11} {:>7} {:>13} {:>16}  {}",
            arch.name(),
            input,
            classes,
            group(params),
            group(macs),
            arch.about()
        );
    }
    Ok(())
}

/// 61100840 → "61,100,840".
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn data(action: DataAction) -> Result<()> {
    use convlab_datasets::{DatasetName, FileState, data_dir, report};
    let (args, verb) = match &action {
        DataAction::Bench { images, batch } => return data_bench(*images, *batch),
        DataAction::Fetch(a) => (a, "fetch"),
        DataAction::Info(a) => (a, "info"),
        DataAction::Verify(a) => (a, "verify"),
    };
    let name: DatasetName = args.name.parse()?;
    let dir = data_dir(args.data_dir.as_deref());
    if verb == "fetch" {
        convlab_datasets::download::fetch(name, &dir)
            .with_context(|| format!("fetching {name} into {}", dir.display()))?;
    }
    let files = report(name, &dir, true);
    let [c, h, w] = name.shape();
    let classes = name.class_names();
    println!("dataset:  {name} ({c}x{h}x{w}, {} classes)", classes.len());
    println!("data dir: {}", dir.join(name.folder()).display());
    for extra in name.system_dirs() {
        println!("also searched: {}", extra.display());
    }
    let mut problems = 0;
    for f in &files {
        let state = match &f.state {
            FileState::Verified => "verified".to_string(),
            FileState::Present => "present".to_string(),
            FileState::Missing => {
                problems += 1;
                "MISSING".to_string()
            }
            FileState::Invalid(why) => {
                problems += 1;
                format!("INVALID: {why}")
            }
        };
        let location = f
            .path
            .as_ref()
            .map_or("-".to_string(), |p| p.display().to_string());
        let bytes = f.bytes.map_or("-".to_string(), group);
        println!(
            "  {:<26} {:>12} B  {:<10}  {}",
            f.name, bytes, state, location
        );
    }
    if verb == "info" && problems == 0 {
        let splits = convlab_datasets::load(name, &dir, false)?;
        println!(
            "images:   train {}, test {}",
            splits.train.len(),
            splits.test.len()
        );
    }
    let shown: Vec<&str> = classes.iter().take(20).map(String::as_str).collect();
    println!(
        "classes:  {}{}",
        shown.join(", "),
        if classes.len() > 20 { ", ..." } else { "" }
    );
    if problems > 0 {
        let missing = files.iter().find(|f| f.state == FileState::Missing);
        if let Some(m) = missing {
            let file = name.files().into_iter().find(|f| f.name == m.name);
            if let Some(file) = file {
                eprintln!(
                    "{}",
                    convlab_datasets::registry::missing_error(name, &dir, &file)
                );
            }
        }
        if verb != "info" {
            anyhow::bail!("{problems} file(s) of {name} missing or invalid");
        }
    }
    Ok(())
}

/// Times the input pipeline on synthetic CIFAR-shaped data, single-threaded.
fn data_bench(images: usize, batch: usize) -> Result<()> {
    use burn::data::dataloader::batcher::Batcher;
    use convlab_datasets::{
        AugmentConfig, Augmenter, ChannelStats, CropConfig, ImageBatcher, SyntheticConfig, generate,
    };
    use std::sync::Arc;
    anyhow::ensure!(
        images > 0 && batch > 0,
        "--images and --batch must be positive"
    );
    let set = Arc::new(generate(&SyntheticConfig::new(10_000, [3, 32, 32], 10, 0))?);
    let stats = ChannelStats::compute(&set);
    let augment = AugmentConfig {
        crop: Some(CropConfig {
            padding: 4,
            fill: Default::default(),
        }),
        hflip: 0.5,
        ..Default::default()
    };
    let device = convlab_experiments::select(convlab_experiments::Backend::Flex)?.device;
    println!("input pipeline, 3x32x32, batch {batch}, one thread, {images} images per row");
    println!("{:<34} {:>12}", "stage", "images/s");
    for (label, aug, tensors) in [
        ("normalise + batch (vectors)", false, false),
        ("crop + flip + normalise (vectors)", true, false),
        ("crop + flip + normalise + tensors", true, true),
    ] {
        let augmenter = aug.then(|| Augmenter::new(augment.clone(), 1, vec![0; 3]));
        let batcher = ImageBatcher::new(set.clone(), &stats, augmenter);
        let order: Vec<usize> = (0..images).map(|i| (i * 7919) % set.len()).collect();
        let start = std::time::Instant::now();
        for chunk in order.chunks(batch) {
            if tensors {
                let b = batcher.batch(chunk.to_vec(), &device);
                std::hint::black_box(b);
            } else {
                std::hint::black_box(batcher.batch_data(chunk));
            }
        }
        let rate = images as f64 / start.elapsed().as_secs_f64();
        println!("{label:<34} {rate:>12.0}");
    }
    Ok(())
}

fn train(args: TrainArgs) -> Result<()> {
    use convlab_experiments::{Recipe, TrainOptions, resume, train};
    let mut opts = TrainOptions {
        backend: args.backend.parse()?,
        data_dir: args.data_dir,
        out: args.out,
        fetch: !args.no_fetch,
        overfit_batches: args.overfit_batches,
        handle_signals: true,
        stop_after_iterations: None,
        tui: !args.no_tui,
    };
    let outcome = if let Some(dir) = args.resume {
        opts.overfit_batches = None;
        resume(&dir, &opts)?
    } else {
        let mut sets = args.set;
        let mut flag = |key: &str, v: Option<String>| {
            if let Some(v) = v {
                sets.push(format!("{key}={v}"));
            }
        };
        flag("epochs", args.epochs.map(|v| v.to_string()));
        flag("batch_size", args.batch_size.map(|v| v.to_string()));
        flag("optimizer.lr", args.lr.map(|v| v.to_string()));
        flag("seed", args.seed.map(|v| v.to_string()));
        let name = args.recipe.unwrap_or_default();
        let recipe = Recipe::load(&name, &sets)?;
        train(recipe, &opts)?
    };
    println!("run directory: {}", outcome.dir.display());
    match outcome.summary.status {
        convlab_experiments::RunStatus::Completed
        | convlab_experiments::RunStatus::EarlyStopped => Ok(()),
        status => anyhow::bail!("run ended: {status:?}"),
    }
}
