//! `train` (new or `--resume`), `eval` and `report`: one run, its evaluation and its page.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use crate::base::backend::Backend;
use crate::base::table;
use crate::config::overrides::Override;
use crate::config::recipe::{DatasetKind, Recipe};
use crate::record::rundir::RunStatus;
use crate::run::eval::{CheckpointChoice, Split};
use crate::run::train::{ResumeOptions, TrainOptions};

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
    /// auto (default: a hardware GPU through wgpu when compiled in, else flex), flex, ndarray or
    /// wgpu.
    #[arg(long)]
    pub backend: Option<Backend>,
    /// Epochs to train (the recipe's `epochs`); with --resume, a larger number extends the run.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per training step (the recipe's `batch_size`).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate (the recipe's `optimizer.lr`).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed of weights, data order, split and augmentation (the recipe's `seed`).
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
    pub set: Vec<Override>,
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
    /// `--set` in order, then the typed flags (`--epochs`, `--batch-size`, `--lr`, `--seed`),
    /// which win over a `--set` of the same key. Recipes hold integers as TOML does (64-bit
    /// signed): a larger flag is an error, never a wrapped number.
    pub fn overrides(&self) -> Result<Vec<Override>> {
        let int = |flag: &str, v: u64| {
            i64::try_from(v)
                .map(toml::Value::Integer)
                .map_err(|_| anyhow::anyhow!("{flag} {v}: at most {} (a TOML integer)", i64::MAX))
        };
        let mut o = self.set.clone();
        let flags = [
            ("epochs", "--epochs", self.epochs.map(|v| v as u64)),
            (
                "batch_size",
                "--batch-size",
                self.batch_size.map(|v| v as u64),
            ),
            ("seed", "--seed", self.seed),
        ];
        for (key, flag, v) in flags {
            if let Some(v) = v {
                o.push(Override::set(key, int(flag, v)?));
            }
        }
        if let Some(lr) = self.lr {
            o.push(Override::set("optimizer.lr", lr));
        }
        Ok(o)
    }

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
    /// The split to evaluate on.
    #[arg(long, value_enum, default_value = "test")]
    pub split: Split,
    /// Which checkpoint: the best validation loss, or the last epoch's.
    #[arg(long, value_enum, default_value = "best")]
    pub checkpoint: CheckpointChoice,
    /// auto (a hardware GPU through wgpu when compiled in, else flex), flex, ndarray or wgpu.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: Backend,
    /// Data directory (default: $CONVLAB_DATA, else the per-user cache directory).
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
pub struct ReportArgs {
    /// Run directory.
    pub run_dir: PathBuf,
    /// Where the page goes (default: `report.html` in the run directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A recipe whose data `--set` replaced (`data.dataset`, or a folder's `data.path`) is no longer
/// the recipe its name and description speak of: its runs are filed as `<recipe>-<data>` (the
/// folder's name, or the dataset's; `--name` wins), the description says what changed, and the
/// model's input and classes follow the new data unless `--set` gave them too.
fn renamed_for_its_data(recipe: &mut Recipe, original: &Recipe) {
    let (d, o) = (&recipe.data, &original.data);
    if d.dataset == o.dataset && d.path == o.path {
        return;
    }
    let tag = match (d.dataset, &d.path) {
        (DatasetKind::Folder, Some(p)) => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "folder".into()),
        (kind, _) => kind.name().to_string(),
    };
    let what = match &d.path {
        Some(p) if d.dataset == DatasetKind::Folder => format!("the image folder {}", p.display()),
        _ => tag.clone(),
    };
    recipe.description = format!("{} — data replaced by --set: {what}", recipe.description);
    recipe.name = format!("{}-{tag}", recipe.name);
    // The base recipe's input and classes were for its own data: unless `--set` gave them too,
    // the model follows the new data.
    if recipe.model.input == original.model.input {
        recipe.model.input = None;
    }
    if recipe.model.classes == original.model.classes {
        recipe.model.classes = None;
    }
}

pub fn train(a: TrainArgs) -> Result<()> {
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
        crate::run::train::resume(
            dir,
            &opts,
            &ResumeOptions {
                epochs: a.epochs,
                from_epoch: a.from_epoch,
            },
        )?
    } else {
        let name = a.recipe.clone().unwrap_or_default();
        let mut recipe = Recipe::resolve(&name, &a.overrides()?)?;
        renamed_for_its_data(&mut recipe, &Recipe::resolve(&name, &[])?);
        if let Some(n) = a.name {
            recipe.name = n;
        }
        crate::run::train::train(recipe, &opts)?
    };
    println!("run directory: {}", outcome.dir().display());
    match outcome.summary.status {
        RunStatus::Completed | RunStatus::EarlyStopped => Ok(()),
        // Paused where --until-epoch asked.
        RunStatus::Interrupted if until.is_some_and(|u| outcome.summary.epochs >= u) => Ok(()),
        status => bail!("run ended: {status:?}"),
    }
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let r = crate::run::eval::evaluate_run(
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
        let m = crate::run::eval::misclassified_picture(
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

pub fn report(a: ReportArgs) -> Result<()> {
    let out = a
        .out
        .unwrap_or_else(|| a.run_dir.join(crate::record::page::FILE));
    crate::record::page::write(&a.run_dir, &out)?;
    println!("{}", out.display());
    Ok(())
}
