//! burn-train wiring: run directories, the learner, checkpoints and resume, sanity checks,
//! test evaluation and the run summary.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::tensor::Device;
use burn::train::checkpoint::{
    ComposedCheckpointingStrategy, KeepLastNCheckpoints, MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric, TopKAccuracyMetric};
use burn::train::{
    Interrupter, Learner, MetricEarlyStoppingStrategy, StoppingCondition, SupervisedTraining,
};
use convlab_models::{Model, ModelConfig};
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Selected, select};
use crate::classifier::{Classifier, RunGuard};
use crate::data::{RunData, prepare};
use crate::eval::{Evaluation, evaluate};
use crate::loader::EpochLoader;
use crate::recipe::Recipe;
use crate::renderer::{CSV_HEADER, EpochRow, RunRenderer, read_csv};
use crate::schedule::Schedule;

/// How a run is carried out (everything that is not part of the recipe).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub backend: Backend,
    pub data_dir: Option<PathBuf>,
    /// Parent of `<recipe>/<timestamp>/` run directories.
    pub out: PathBuf,
    /// Download missing datasets.
    pub fetch: bool,
    /// Train on this many fixed batches without augmentation or regularisation.
    pub overfit_batches: Option<usize>,
    /// Install the Ctrl-C / SIGTERM handler (the binary does; tests do not).
    pub handle_signals: bool,
    /// Stop after this many training iterations (tests of interrupted runs).
    pub stop_after_iterations: Option<usize>,
    /// burn-train's terminal UI when stdout is a terminal.
    pub tui: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Auto,
            data_dir: None,
            out: PathBuf::from("runs"),
            fetch: true,
            overfit_batches: None,
            handle_signals: false,
            stop_after_iterations: None,
            tui: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Completed,
    EarlyStopped,
    Interrupted,
    Diverged,
}

/// `summary.json` of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub recipe: String,
    pub status: RunStatus,
    pub epochs: usize,
    pub best_epoch: Option<usize>,
    pub best_valid_acc: Option<f64>,
    pub final_valid_acc: Option<f64>,
    pub final_valid_loss: Option<f64>,
    pub test: Option<Evaluation>,
    pub wall_time_s: f64,
    pub images_per_s: f64,
    pub parameters: u64,
    pub backend: String,
    pub device: String,
    pub seed: u64,
    pub git_commit: Option<String>,
}

pub struct RunOutcome {
    pub dir: PathBuf,
    pub summary: RunSummary,
    pub rows: Vec<EpochRow>,
}

static SIGNAL_TARGET: Mutex<Option<Interrupter>> = Mutex::new(None);

fn install_signal_handler(interrupter: Interrupter) {
    if let Ok(mut slot) = SIGNAL_TARGET.lock() {
        *slot = Some(interrupter);
    }
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let mut hits = 0u32;
        let _ = ctrlc::set_handler(move || {
            hits += 1;
            if hits > 1 {
                eprintln!(
                    "second interrupt: exiting now (the last completed epoch's checkpoint is kept)"
                );
                std::process::exit(130);
            }
            eprintln!("interrupt: stopping after the current batch (again to exit at once)");
            if let Ok(slot) = SIGNAL_TARGET.lock()
                && let Some(i) = slot.as_ref()
            {
                i.stop(Some("interrupted by signal"));
            }
        });
    });
}

/// `runs/<recipe>/<YYYYmmdd-HHMMSS>`, with a numeric suffix if that exists: never overwrites.
fn new_run_dir(out: &Path, recipe: &str) -> Result<PathBuf> {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    let parent = out.join(recipe);
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    for k in 0..1000 {
        let name = if k == 0 {
            stamp.clone()
        } else {
            format!("{stamp}-{k}")
        };
        let dir = parent.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    bail!("no free run directory name under {}", parent.display())
}

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The model config of a recipe completed with the data's shape and classes.
pub fn model_config(recipe: &Recipe, data: &RunData) -> Result<ModelConfig> {
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

/// Applies `--overfit-batches`: K fixed batches, no augmentation, no regularisation.
fn overfit_recipe(mut recipe: Recipe) -> Recipe {
    recipe.augment = Default::default();
    recipe.optimizer.weight_decay = 0.0;
    if ModelConfig::applicable_knobs(recipe.model.arch).contains(&"dropout") {
        recipe.model.dropout = Some(0.0);
    }
    recipe.train.label_smoothing = None;
    recipe.train.early_stopping_patience = None;
    recipe.schedule = Default::default();
    recipe
}

pub fn train(recipe: Recipe, opts: &TrainOptions) -> Result<RunOutcome> {
    let recipe = match opts.overfit_batches {
        Some(_) => overfit_recipe(recipe),
        None => recipe,
    };
    // Data first: a run that cannot start leaves no directory behind.
    let data = prepare(&recipe, opts.data_dir.as_deref(), opts.fetch)?;
    let dir = new_run_dir(&opts.out, &recipe.name)?;
    std::fs::write(dir.join("recipe.toml"), recipe.to_toml()).context("writing recipe.toml")?;
    if let Some(k) = opts.overfit_batches {
        std::fs::write(dir.join("overfit-batches"), k.to_string())?;
    }
    run(recipe, opts, dir, None, data)
}

/// The resolved recipe stored in a run directory (named after the run's parent folder).
pub fn run_recipe(run_dir: &Path) -> Result<Recipe> {
    let text = std::fs::read_to_string(run_dir.join("recipe.toml")).with_context(|| {
        format!(
            "{}: not a run directory (no recipe.toml)",
            run_dir.display()
        )
    })?;
    let name = run_dir
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Recipe::from_toml(&name, &text)?)
}

/// Continues a run from its last complete checkpoint with the recipe stored in it.
pub fn resume(run_dir: &Path, opts: &TrainOptions) -> Result<RunOutcome> {
    let recipe = run_recipe(run_dir)?;
    let epoch = last_checkpoint(run_dir).ok_or_else(|| {
        anyhow!(
            "{}: no complete checkpoint to resume from (the first epoch did not finish)",
            run_dir.display()
        )
    })?;
    let mut opts = opts.clone();
    opts.overfit_batches = std::fs::read_to_string(run_dir.join("overfit-batches"))
        .ok()
        .and_then(|s| s.trim().parse().ok());
    // Keep the metrics of the epochs that are kept; later rows are re-run.
    let csv = run_dir.join("metrics.csv");
    let kept: Vec<EpochRow> = read_csv(&csv)
        .into_iter()
        .filter(|r| r.epoch <= epoch)
        .collect();
    let mut text = format!("{CSV_HEADER}\n");
    for r in &kept {
        text.push_str(&r.csv());
        text.push('\n');
    }
    std::fs::write(&csv, text)?;
    let data = prepare(&recipe, opts.data_dir.as_deref(), opts.fetch)?;
    println!("resuming {} from epoch {epoch}", run_dir.display());
    run(recipe, &opts, run_dir.to_path_buf(), Some(epoch), data)
}

/// Largest epoch with model, optimizer and scheduler checkpoints.
pub fn last_checkpoint(run_dir: &Path) -> Option<usize> {
    let ck = run_dir.join("checkpoint");
    checkpoint_epochs(run_dir)
        .into_iter()
        .filter(|e| {
            ["optim", "scheduler"]
                .iter()
                .all(|k| ck.join(format!("{k}-{e}.bpk")).is_file())
        })
        .max()
}

/// Epochs whose model checkpoint exists.
pub fn checkpoint_epochs(run_dir: &Path) -> Vec<usize> {
    let mut v: Vec<usize> = std::fs::read_dir(run_dir.join("checkpoint"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.strip_prefix("model-")?.strip_suffix(".bpk")?.parse().ok()
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// The checkpointed epoch with the lowest validation loss.
pub fn best_epoch(run_dir: &Path) -> Option<usize> {
    let kept = checkpoint_epochs(run_dir);
    read_csv(&run_dir.join("metrics.csv"))
        .into_iter()
        .filter(|r| kept.contains(&r.epoch) && r.valid_loss.is_finite())
        .min_by(|a, b| a.valid_loss.total_cmp(&b.valid_loss))
        .map(|r| r.epoch)
}

fn train_loader_for(
    data: &RunData,
    recipe: &Recipe,
    overfit: Option<usize>,
    device: &Device,
) -> Result<(EpochLoader, EpochLoader)> {
    match overfit {
        None => Ok((
            EpochLoader::new(
                data.train.clone(),
                recipe.batch_size,
                Some(recipe.seed),
                device.clone(),
            ),
            EpochLoader::new(data.valid.clone(), recipe.batch_size, None, device.clone()),
        )),
        Some(k) => {
            let n = (k * recipe.batch_size).min(data.train_plain.set().len());
            if n == 0 {
                bail!("--overfit-batches must be at least 1");
            }
            let keep: Vec<usize> = (0..n).collect();
            let fixed = Arc::new(convlab_datasets::ImageBatcher::new(
                Arc::new(data.train_plain.set().subset(&keep)),
                &data.stats,
                None,
            ));
            Ok((
                EpochLoader::new(fixed.clone(), recipe.batch_size, None, device.clone()),
                EpochLoader::new(fixed, recipe.batch_size, None, device.clone()),
            ))
        }
    }
}

/// Initial loss on one training batch next to ln(classes) (the seed notes' first sanity check).
fn initial_loss_check(classifier: &Classifier, loader: &EpochLoader, classes: usize) -> Result<()> {
    let batch = loader
        .iter()
        .next()
        .ok_or_else(|| anyhow!("empty training set"))?
        .map_err(|e| anyhow!("{e}"))?;
    let loss = classifier.evaluate(batch).loss.into_scalar::<f32>() as f64;
    let expected = (classes as f64).ln();
    let note = if !loss.is_finite() || (loss - expected).abs() > 0.5 * expected + 0.2 {
        "  WARNING: far from ln(classes); check the initialisation, labels and normalisation"
    } else {
        ""
    };
    println!("initial loss {loss:.4} (ln {classes} = {expected:.4}){note}");
    Ok(())
}

fn run(
    recipe: Recipe,
    opts: &TrainOptions,
    dir: PathBuf,
    resume_epoch: Option<usize>,
    data: RunData,
) -> Result<RunOutcome> {
    let started = Instant::now();
    let Selected {
        backend,
        device,
        description,
    } = select(opts.backend)?;
    println!("run {} on {description}", dir.display());
    let cfg = model_config(&recipe, &data)?;
    let classes = data.class_names.len();
    device.seed(recipe.seed);
    let train_device = device.clone().autodiff();
    let model = cfg.init(&train_device)?;
    let parameters = convlab_blocks::count_params(&model);
    let (train_loader, valid_loader) =
        train_loader_for(&data, &recipe, opts.overfit_batches, &train_device)?;
    let iters_per_epoch = train_loader.num_items().div_ceil(recipe.batch_size);
    let schedule = Schedule::new(
        recipe.schedule.clone(),
        recipe.optimizer.lr,
        iters_per_epoch,
        recipe.epochs,
    );
    let mut classifier = Classifier::new(
        model,
        recipe.train.label_smoothing.map(|p| p as f32),
        recipe.train.aux_weight.unwrap_or(0.3),
    );
    if resume_epoch.is_none() {
        // In training mode on the training device, like the first step (it initialises the
        // lazy parameters in the same order in every run, so runs stay reproducible).
        let probe = EpochLoader::new(
            data.train_plain.clone(),
            recipe.batch_size,
            None,
            train_device.clone(),
        );
        initial_loss_check(&classifier, &probe, classes)?;
    }
    let start_epoch = resume_epoch.unwrap_or(0);
    let train_loader = train_loader.starting_at(start_epoch);

    let k = 5.min(classes);
    let mut training =
        SupervisedTraining::<Classifier>::new(&dir, Arc::new(train_loader), Arc::new(valid_loader))
            .metrics((
                AccuracyMetric::new(),
                TopKAccuracyMetric::new(k),
                LossMetric::new(),
            ))
            .metric_train_numeric(LearningRateMetric::new())
            .num_epochs(recipe.epochs)
            .with_default_checkpointers()
            .with_checkpointing_strategy(
                ComposedCheckpointingStrategy::builder()
                    .add(KeepLastNCheckpoints::new(2))
                    .add(MetricCheckpointingStrategy::new(
                        &LossMetric::new(),
                        Aggregate::Mean,
                        Direction::Lowest,
                        Split::Valid,
                    ))
                    .build(),
            )
            .with_application_logger(None);
    if let Some(patience) = recipe.train.early_stopping_patience {
        training = training.early_stopping(MetricEarlyStoppingStrategy::new(
            &LossMetric::new(),
            Aggregate::Mean,
            Direction::Lowest,
            Split::Valid,
            StoppingCondition::NoImprovementSince { n_epochs: patience },
        ));
    }
    if let Some(e) = resume_epoch {
        training = training.checkpoint(e);
    }
    let interrupter = training.interrupter();
    let inner = (opts.tui && std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .then(|| burn::train::renderer::default_renderer(interrupter.clone(), resume_epoch));
    training = training.renderer(Box::new(RunRenderer::new(dir.join("metrics.csv"), inner)));
    let guard = RunGuard::new(interrupter.clone(), opts.stop_after_iterations);
    classifier.guard = Some(guard.clone());
    if opts.handle_signals {
        install_signal_handler(interrupter.clone());
    }

    let learner = Learner::new(classifier, crate::optim::build(&recipe.optimizer), schedule);
    let result = training.launch(learner);
    if let Some(e) = &result.error {
        bail!("training failed: {e}");
    }
    let status = if guard.diverged() {
        RunStatus::Diverged
    } else if result.interrupted.is_some() {
        RunStatus::Interrupted
    } else if last_checkpoint(&dir).unwrap_or(0) < recipe.epochs {
        RunStatus::EarlyStopped
    } else {
        RunStatus::Completed
    };
    let all_rows = read_csv(&dir.join("metrics.csv"));
    let best = best_epoch(&dir);
    let test = match (status, best) {
        (RunStatus::Completed | RunStatus::EarlyStopped, Some(b)) => Some(evaluate_checkpoint(
            &cfg,
            &dir,
            b,
            &data,
            recipe.batch_size.max(256),
            &device,
            "test",
        )?),
        _ => None,
    };
    let last = all_rows.last();
    let summary = RunSummary {
        recipe: recipe.name.clone(),
        status,
        epochs: last.map_or(0, |r| r.epoch),
        best_epoch: best,
        best_valid_acc: best
            .and_then(|b| all_rows.iter().find(|r| r.epoch == b))
            .map(|r| r.valid_acc),
        final_valid_acc: last.map(|r| r.valid_acc),
        final_valid_loss: last.map(|r| r.valid_loss),
        test,
        wall_time_s: started.elapsed().as_secs_f64(),
        images_per_s: {
            let r: Vec<f64> = all_rows
                .iter()
                .map(|r| r.images_per_s)
                .filter(|v| *v > 0.0)
                .collect();
            if r.is_empty() {
                0.0
            } else {
                r.iter().sum::<f64>() / r.len() as f64
            }
        },
        parameters,
        backend: backend.name().to_string(),
        device: description,
        seed: recipe.seed,
        git_commit: git_commit(),
    };
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    match status {
        RunStatus::Diverged => eprintln!(
            "stopped: the training loss became NaN or infinite; the last good checkpoint is epoch {} in {}",
            last_checkpoint(&dir).map_or("none".into(), |e| e.to_string()),
            dir.join("checkpoint").display()
        ),
        RunStatus::Interrupted => eprintln!(
            "interrupted; resume with: convlab train --resume {}",
            dir.display()
        ),
        _ => {
            if let Some(t) = &summary.test {
                println!(
                    "done: best epoch {} (valid acc {:.2}%), test loss {:.4} top-1 {:.2}% top-5 {:.2}%, {:.0}s",
                    best.unwrap_or(0),
                    summary.best_valid_acc.unwrap_or(f64::NAN),
                    t.loss,
                    t.top1,
                    t.top5,
                    summary.wall_time_s
                );
            }
        }
    }
    Ok(RunOutcome {
        dir,
        summary,
        rows: all_rows,
    })
}

/// Loads `checkpoint/model-<epoch>.bpk` into a model built from `cfg` on `device`.
pub fn load_model(
    cfg: &ModelConfig,
    run_dir: &Path,
    epoch: usize,
    device: &Device,
) -> Result<Model> {
    let path = run_dir
        .join("checkpoint")
        .join(format!("model-{epoch}.bpk"));
    let model = cfg.init(device)?;
    // The checkpoint holds the training wrapper; load it through a Classifier.
    let classifier = Classifier::new(model, None, 0.0);
    let classifier = classifier
        .try_load_file(&path)
        .map_err(|e| anyhow!("{}: cannot load checkpoint: {e}", path.display()))?;
    Ok(classifier.model)
}

fn evaluate_checkpoint(
    cfg: &ModelConfig,
    dir: &Path,
    epoch: usize,
    data: &RunData,
    batch: usize,
    device: &Device,
    split: &str,
) -> Result<Evaluation> {
    let model = load_model(cfg, dir, epoch, device)?;
    let batcher = if split == "valid" {
        data.valid.clone()
    } else {
        data.test.clone()
    };
    evaluate(
        &model,
        &EpochLoader::new(batcher, batch, None, device.clone()),
        data.class_names.len(),
    )
}
