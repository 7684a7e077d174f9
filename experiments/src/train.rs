//! A training run, in one pass: recipe (resolved) → data (prepared) → run directory (created,
//! or reopened to resume) → model (built, or its checkpoint checked) → learner (burn-train) →
//! summary (the best checkpoint on the test split). Each stage is its own module; this one
//! only strings them together.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::tensor::Device;
use burn::train::checkpoint::{
    AsyncCheckpointer, ComposedCheckpointingStrategy, KeepLastNCheckpoints,
    MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{LearningRateMetric, LossMetric};
use burn::train::{Interrupter, Learner, SupervisedTraining};
use convlab_models::ModelConfig;

use crate::backend::{Backend, Selected, select};
use crate::checkpoint::{AtomicCheckpointer, resumable_epoch};
use crate::classifier::{Classifier, StepCounter};
use crate::data::{RunData, prepare};
use crate::diagnostics::Diagnostics;
use crate::eval::evaluate;
use crate::loader::EpochLoader;
use crate::metrics::{Evaluation, Objective, RankAccuracy};
use crate::recipe::Recipe;
use crate::renderer::{Patience, Progress, RunRenderer, SharedProgress};
use crate::rundir::{EpochRow, RunDir, RunInfo, RunStatus, RunSummary};
use crate::schedule::Schedule;

/// How a run is carried out (everything that is not part of the recipe).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub backend: Backend,
    pub data_dir: Option<PathBuf>,
    /// Parent of `<recipe>/<timestamp>/` run directories.
    pub out: PathBuf,
    /// Train into exactly this directory instead (it must not exist; a suite's runs).
    pub run_dir: Option<PathBuf>,
    /// Download missing datasets.
    pub fetch: bool,
    /// Train on this many fixed batches without augmentation or regularisation.
    pub overfit_batches: Option<usize>,
    /// Install the Ctrl-C / SIGTERM handler (the binary does; tests do not).
    pub handle_signals: bool,
    /// Stop after this many training iterations (tests of interrupted runs).
    pub stop_after_iterations: Option<usize>,
    /// Make the logits NaN from this training iteration on (tests of the divergence guard).
    pub nan_after_iterations: Option<usize>,
    /// burn-train's terminal UI when stdout is a terminal.
    pub tui: bool,
    /// Pause after this epoch (its checkpoint kept, status `interrupted`): the rates are the
    /// recipe's, so resuming later gives exactly the uninterrupted run. A search's successive
    /// halving trains its trials rung by rung this way.
    pub until_epoch: Option<usize>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Auto,
            data_dir: None,
            out: PathBuf::from("runs"),
            run_dir: None,
            fetch: true,
            overfit_batches: None,
            handle_signals: false,
            stop_after_iterations: None,
            nan_after_iterations: None,
            tui: false,
            until_epoch: None,
        }
    }
}

/// What `--resume` may change about a run.
#[derive(Debug, Clone, Default)]
pub struct ResumeOptions {
    /// Train up to this many epochs in all (extends a finished run).
    pub epochs: Option<usize>,
    /// Resume from this epoch's checkpoint instead of the last one.
    pub from_epoch: Option<usize>,
}

pub struct RunOutcome {
    pub run: RunDir,
    pub summary: RunSummary,
    pub rows: Vec<EpochRow>,
}

impl RunOutcome {
    pub fn dir(&self) -> &Path {
        self.run.path()
    }
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

/// `--overfit-batches`: K fixed batches, no augmentation, no regularisation.
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

/// Starts a new run of `recipe` in a new run directory.
pub fn train(recipe: Recipe, opts: &TrainOptions) -> Result<RunOutcome> {
    let recipe = match opts.overfit_batches {
        Some(_) => overfit_recipe(recipe),
        None => recipe,
    };
    // Data first: a run that cannot start leaves no directory behind.
    let data = prepare(&recipe, opts.data_dir.as_deref(), opts.fetch)?;
    let selected = select(opts.backend)?;
    let run = match &opts.run_dir {
        Some(dir) => RunDir::create_at(dir)?,
        None => RunDir::create(&opts.out, &recipe.name)?,
    };
    run.write_recipe(&recipe)?;
    run.write_info(&RunInfo {
        recipe: recipe.name.clone(),
        backend: selected.backend.name().to_string(),
        device: selected.description.clone(),
        overfit_batches: opts.overfit_batches,
        started_by: RunInfo::binary(),
        started_at: chrono::Local::now().to_rfc3339(),
    })?;
    run.write_metrics(&[])?;
    Session {
        recipe,
        data,
        run,
        selected,
        overfit_batches: opts.overfit_batches,
        resume_epoch: None,
        rows: vec![],
    }
    .run(opts)
}

/// Continues a run from a checkpoint, with the recipe, backend and data it started with.
pub fn resume(dir: &Path, opts: &TrainOptions, resume: &ResumeOptions) -> Result<RunOutcome> {
    let run = RunDir::open(dir)?;
    let mut recipe = run.recipe()?;
    let info = run.info().with_context(|| {
        format!(
            "{}: cannot resume a run without its run.json",
            dir.display()
        )
    })?;
    let backend: Backend = info.backend.parse()?;
    let selected = select(backend)?;
    if let Some(epochs) = resume.epochs
        && epochs != recipe.epochs
    {
        let done = run.last_checkpoint().unwrap_or(0);
        if epochs < done {
            bail!("--epochs {epochs}: the run already has {done} epochs; it can only be extended");
        }
        if recipe.schedule.kind == crate::recipe::ScheduleKind::Cosine {
            println!(
                "note: the cosine schedule is stretched to {epochs} epochs from here on (the rates of epochs after {done} differ from a {}-epoch run)",
                recipe.epochs
            );
        }
        recipe.epochs = epochs;
        recipe
            .validate()
            .with_context(|| format!("--epochs {epochs}"))?;
    }
    let data = prepare(&recipe, opts.data_dir.as_deref(), opts.fetch)?;
    let cfg = crate::model::model_config(&recipe, &data)?;
    let template =
        crate::model::classifier(&recipe, cfg.init(&selected.device.clone().autodiff())?);
    let epoch = resumable_epoch(&run, resume.from_epoch, &template)?;
    // Rows after the resumed epoch are trained again; the atomic rewrite keeps the file whole.
    let rows: Vec<EpochRow> = run
        .metrics()?
        .into_iter()
        .filter(|r| r.epoch <= epoch)
        .collect();
    run.write_metrics(&rows)?;
    run.write_recipe(&recipe)?;
    println!("resuming {} from epoch {epoch}", run.path().display());
    Session {
        recipe,
        data,
        run,
        selected,
        overfit_batches: info.overfit_batches,
        resume_epoch: Some(epoch),
        rows,
    }
    .run(opts)
}

/// A picture that could not be drawn is a warning, never the end of a run.
fn picture(name: &str, result: Result<()>) {
    if let Err(e) = result {
        eprintln!("warning: {name} not drawn: {e:#}");
    }
}

/// Initial loss on one training batch next to ln(classes), the seed notes' first sanity
/// check. Computed in evaluation mode (no batch-norm statistics move, no random draws). A
/// model that starts from copied weights (`pretrained`) is expected to be below it.
fn initial_loss_check(
    model: &convlab_models::Model,
    loader: &EpochLoader,
    classes: usize,
    pretrained: bool,
) {
    let Some(Ok(batch)) = loader.iter().next() else {
        return;
    };
    let logits = model.forward(batch.images);
    let loss = crate::classifier::cross_entropy(logits, batch.targets, 0.0)
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

struct Session {
    recipe: Recipe,
    data: RunData,
    run: RunDir,
    selected: Selected,
    overfit_batches: Option<usize>,
    resume_epoch: Option<usize>,
    rows: Vec<EpochRow>,
}

impl Session {
    fn loaders(&self, device: &Device) -> Result<(EpochLoader, EpochLoader)> {
        let (recipe, data) = (&self.recipe, &self.data);
        match self.overfit_batches {
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

    fn run(self, opts: &TrainOptions) -> Result<RunOutcome> {
        let started = Instant::now();
        let device = self.selected.device.clone();
        println!(
            "run {} on {}",
            self.run.path().display(),
            self.selected.description
        );
        let cfg = crate::model::model_config(&self.recipe, &self.data)?;
        let classes = self.data.class_names.len();
        let train_device = device.clone().autodiff();
        let model = crate::model::build(&cfg, &train_device, self.recipe.seed)?;
        let (model, transfer) = match &self.recipe.transfer {
            Some(t) => {
                let (m, plan) = crate::transfer::prepare(t, model, self.resume_epoch.is_none())?;
                println!("{}", plan.describe(t));
                (m, Some(plan))
            }
            None => (model, None),
        };
        let parameters = convlab_blocks::count_params(&model);
        if self.resume_epoch.is_none() {
            picture(
                "filters-init.png",
                crate::pictures::filters(&self.run.file("filters-init.png"), &model).map(|_| ()),
            );
        }
        let (train_loader, valid_loader) = self.loaders(&train_device)?;
        if self.resume_epoch.is_none() {
            let probe = EpochLoader::new(
                self.data.train_plain.clone(),
                self.recipe.batch_size,
                None,
                device.clone(),
            );
            let pretrained = transfer.as_ref().is_some_and(|t| !t.copied.is_empty());
            initial_loss_check(&model.valid(), &probe, classes, pretrained);
        }
        let iters_per_epoch = train_loader.num_items().div_ceil(self.recipe.batch_size);
        let schedule = Schedule::new(
            self.recipe.schedule.clone(),
            self.recipe.optimizer.lr,
            iters_per_epoch,
            self.recipe.epochs,
        );
        let start_epoch = self.resume_epoch.unwrap_or(0);
        let pause_at = opts.until_epoch.filter(|&u| u < self.recipe.epochs);
        if let Some(u) = pause_at
            && u <= start_epoch
        {
            bail!("--until-epoch {u}: the run already has {start_epoch} epochs");
        }
        let train_loader = train_loader.starting_at(start_epoch);
        let mut classifier = crate::model::classifier(&self.recipe, model);

        let progress: SharedProgress = Arc::new(Mutex::new(Progress {
            rows: self.rows.clone(),
            ..Default::default()
        }));
        let mut training = SupervisedTraining::<Classifier>::new(
            self.run.path(),
            Arc::new(train_loader),
            Arc::new(valid_loader),
        )
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .metric_train_numeric(Objective::default())
        .metric_train_numeric(RankAccuracy::new(1))
        .metric_valid_numeric(RankAccuracy::new(1))
        .metric_train_numeric(RankAccuracy::new(5.min(classes)))
        .metric_valid_numeric(RankAccuracy::new(5.min(classes)))
        .metric_train_numeric(LearningRateMetric::new())
        .num_epochs(pause_at.unwrap_or(self.recipe.epochs))
        .with_custom_checkpointers(
            AsyncCheckpointer::new(AtomicCheckpointer::new(&self.run, "model")),
            AsyncCheckpointer::new(AtomicCheckpointer::new(&self.run, "optim")),
            AsyncCheckpointer::new(AtomicCheckpointer::new(&self.run, "scheduler")),
        )
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
        if let Some(patience) = self.recipe.train.early_stopping_patience {
            training = training.early_stopping(Patience {
                patience,
                progress: progress.clone(),
            });
        }
        if let Some(e) = self.resume_epoch {
            training = training.checkpoint(e);
        }
        let interrupter = training.interrupter();
        let inner = (opts.tui && std::io::IsTerminal::is_terminal(&std::io::stdout())).then(|| {
            burn::train::renderer::default_renderer(interrupter.clone(), self.resume_epoch)
        });
        training = training.renderer(Box::new(
            RunRenderer::new(
                self.run.clone(),
                progress.clone(),
                interrupter.clone(),
                inner,
            )
            .with_recipe_epochs(self.recipe.epochs),
        ));
        if self.recipe.diagnostics.every > 0 {
            // The probe batch: the first images of the validation split (no augmentation), on
            // the plain device the diagnostics run the model on.
            let probe = EpochLoader::new(
                self.data.valid.clone(),
                self.recipe.diagnostics.probe,
                None,
                device.clone(),
            )
            .iter()
            .next()
            .transpose()?
            .map(|b| b.images);
            classifier.diagnostics = Some(Diagnostics::new(
                self.recipe.diagnostics.clone(),
                self.run.path(),
                &self.recipe.name,
                iters_per_epoch,
                start_epoch * iters_per_epoch,
                probe,
            )?);
        }
        let diagnostics = classifier.diagnostics.clone();
        classifier.counter = Some(StepCounter::new(
            interrupter.clone(),
            opts.stop_after_iterations,
            opts.nan_after_iterations,
        ));
        if opts.handle_signals {
            install_signal_handler(interrupter.clone());
        }

        let mut scheduler =
            burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler::from(schedule);
        if let Some(group) = transfer.as_ref().and_then(crate::transfer::scaled_group) {
            scheduler = scheduler.with_group(
                group,
                Schedule::new(
                    self.recipe.schedule.clone(),
                    self.recipe.optimizer.lr
                        * self.recipe.transfer.as_ref().map_or(1.0, |t| t.lr_scale),
                    iters_per_epoch,
                    self.recipe.epochs,
                ),
            );
        }
        let learner = Learner::new(
            classifier,
            crate::optim::build(&self.recipe.optimizer),
            scheduler,
        );
        let result = training.launch(learner);
        if let Some(d) = &diagnostics {
            picture(crate::diagnostics::PICTURE, d.draw());
            let (n, seconds) = d.cost();
            if n > 0 {
                println!(
                    "diagnostics: {n} measurements (every {} steps) in {seconds:.2}s of {:.1}s",
                    self.recipe.diagnostics.every,
                    started.elapsed().as_secs_f64()
                );
            }
        }
        if let Some(e) = &result.error {
            bail!("training failed: {e}");
        }
        let (rows, diverged, early_stopped, write_error) = {
            let p = progress.lock().unwrap_or_else(|e| e.into_inner());
            (
                p.rows.clone(),
                p.diverged,
                p.early_stopped,
                p.write_error.clone(),
            )
        };
        if let Some(e) = write_error {
            bail!("{}: stopped: {e}", self.run.path().display());
        }
        let status = if diverged.is_some() {
            RunStatus::Diverged
        } else if result.interrupted.is_some() || (pause_at.is_some() && early_stopped.is_none()) {
            RunStatus::Interrupted
        } else if early_stopped.is_some() {
            RunStatus::EarlyStopped
        } else {
            RunStatus::Completed
        };
        let best = self.run.best_epoch()?;
        let test = match status {
            RunStatus::Completed | RunStatus::EarlyStopped => {
                let b = best.ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: the run finished but no checkpoint has a finite validation loss to evaluate on the test split",
                        self.run.path().display()
                    )
                })?;
                Some(self.evaluate_test(&cfg, b, &device)?)
            }
            RunStatus::Interrupted | RunStatus::Diverged => None,
        };
        let last = rows.last();
        let rates: Vec<f64> = rows
            .iter()
            .map(|r| r.images_per_s)
            .filter(|v| *v > 0.0)
            .collect();
        let summary = RunSummary {
            recipe: self.recipe.name.clone(),
            status,
            epochs: last.map_or(0, |r| r.epoch),
            best_epoch: best,
            best_valid_acc: best
                .and_then(|b| rows.iter().find(|r| r.epoch == b))
                .map(|r| r.valid_acc),
            final_valid_acc: last.map(|r| r.valid_acc),
            final_valid_loss: last.map(|r| r.valid_loss),
            test,
            wall_time_s: started.elapsed().as_secs_f64(),
            images_per_s: if rates.is_empty() {
                0.0
            } else {
                rates.iter().sum::<f64>() / rates.len() as f64
            },
            parameters,
            backend: self.selected.backend.name().to_string(),
            device: self.selected.description.clone(),
            seed: self.recipe.seed,
            binary: RunInfo::binary(),
        };
        self.run.write_summary(&summary)?;
        let page = self.run.file(crate::html::FILE);
        picture(
            crate::html::FILE,
            crate::html::write(self.run.path(), &page),
        );
        self.report(&summary, diverged, early_stopped);
        Ok(RunOutcome {
            run: self.run,
            summary,
            rows,
        })
    }

    fn evaluate_test(
        &self,
        cfg: &ModelConfig,
        epoch: usize,
        device: &Device,
    ) -> Result<Evaluation> {
        let model = crate::model::load(cfg, &self.run, epoch, device)?;
        let loader = EpochLoader::new(
            self.data.test.clone(),
            self.recipe.batch_size.max(256),
            None,
            device.clone(),
        );
        let evaluation = evaluate(&model, &loader, self.data.class_names.len())
            .with_context(|| format!("test evaluation of epoch {epoch}"))?;
        picture(
            "filters-best.png",
            crate::pictures::filters(&self.run.file("filters-best.png"), &model).map(|_| ()),
        );
        picture(
            "confusion.png",
            crate::pictures::confusion(
                &self.run.file("confusion.png"),
                &format!("{}: test confusion (epoch {epoch})", self.recipe.name),
                &evaluation.confusion,
                &self.data.class_names,
            ),
        );
        Ok(evaluation)
    }

    fn report(&self, summary: &RunSummary, diverged: Option<f64>, early: Option<usize>) {
        let dir = self.run.path().display();
        match summary.status {
            RunStatus::Diverged => eprintln!(
                "stopped: the training loss became {}; the last good checkpoint is epoch {} in {}",
                diverged.unwrap_or(f64::NAN),
                self.run
                    .last_checkpoint()
                    .map_or("none".into(), |e| e.to_string()),
                self.run.checkpoint_dir().display()
            ),
            RunStatus::Interrupted => match (summary.epochs, self.recipe.epochs) {
                (done, all) if done < all && early.is_none() && summary.epochs > 0 => {
                    eprintln!(
                        "paused after epoch {done} of {all}; continue with: convlab train --resume {dir}"
                    )
                }
                _ => eprintln!("interrupted; resume with: convlab train --resume {dir}"),
            },
            RunStatus::Completed | RunStatus::EarlyStopped => {
                if let Some(e) = early {
                    println!(
                        "early stopping after epoch {e}: no better validation loss for {} epochs",
                        self.recipe.train.early_stopping_patience.unwrap_or(0)
                    );
                }
                if let Some(t) = &summary.test {
                    println!(
                        "done: best epoch {} (valid acc {:.2}%), test loss {:.4} top-1 {:.2}% top-5 {:.2}%, {:.0}s",
                        summary.best_epoch.unwrap_or(0),
                        summary.best_valid_acc.unwrap_or(f64::NAN),
                        t.loss,
                        t.top1,
                        t.top5,
                        summary.wall_time_s
                    );
                }
            }
        }
    }
}
