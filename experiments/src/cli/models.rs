//! `models`, `summary`, `recipes`, `compare-backends` and `bench`: what the zoo holds and how
//! fast and how alike the backends run it.

use anyhow::{Context, Result};
use clap::Args;
use convlab_models::{Arch, ModelConfig, parse_input, summarize};

use crate::base::backend::{Backend, select};
use crate::base::table::{self, group};
use crate::config::recipe::{Recipe, builtin_names};

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
    /// Images in the batch every backend is fed.
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
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Architectures to measure (repeat the flag; default: one per family). ResNets here use
    /// option B shortcuts (1×1 projections where the shape changes).
    #[arg(long = "arch")]
    pub archs: Vec<String>,
    /// Backends to measure (repeat the flag); default flex.
    #[arg(long = "backend")]
    pub backends: Vec<Backend>,
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Timed training steps per model and backend (and as many inference batches).
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// Untimed steps first (allocation, kernel selection and, on wgpu, autotuning).
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Internal: measure one model config (JSON) in this process.
    #[arg(long, hide = true)]
    pub one: Option<String>,
}

pub fn models(json: bool) -> Result<()> {
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

pub fn summary(a: SummaryArgs) -> Result<()> {
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

pub fn recipes() -> Result<()> {
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

pub fn compare_backends(a: CompareArgs) -> Result<()> {
    use crate::perf::compare::{CompareConfig, arch_model, compare, default_models, render};
    let models = if a.archs.is_empty() {
        default_models()
    } else {
        a.archs
            .iter()
            .map(|name| arch_model(name, a.width, a.input.as_deref()))
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

/// What the bench's default set changes in an architecture (said before it runs, so a number is
/// not read as the published configuration's).
fn defaults_note(m: &ModelConfig) -> Option<String> {
    let d = crate::perf::bench::default_models();
    d.iter()
        .find(|x| x.arch == m.arch && *x == m)
        .filter(|x| **x != ModelConfig::new(x.arch))
        .map(|x| match x.arch {
            Arch::ResNet20 => format!("{} with option B shortcuts (1×1 projections)", x.arch),
            _ => format!("{} with a global-average-pool head, no dropout", x.arch),
        })
}

pub fn bench(a: BenchArgs) -> Result<()> {
    use crate::perf::bench::{bench_all, bench_one, default_models, render};
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
    if models.iter().any(|m| defaults_note(m).is_some()) {
        eprintln!(
            "models as scripts/bench_torch.py builds them: {}",
            models
                .iter()
                .filter_map(defaults_note)
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
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
