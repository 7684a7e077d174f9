//! A training run, in one pass: recipe (resolved) → data (prepared) → run directory (created,
//! or reopened to resume) → model (built, or its checkpoint checked) → learner (burn-train,
//! `learner`) → ending, test and summary (`finish`). `Session::run` reads as that list of
//! stages; each stage is a method or a function of its own module.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::data::dataloader::DataLoader;
use burn::module::Module;
use burn::tensor::Device;
use burn::train::{Learner, SupervisedTraining};
use convlab_models::ModelConfig;

use crate::base::backend::{Backend, Selected, select};
use crate::base::loader::EpochLoader;
use crate::base::metrics::Evaluation;
use crate::config::recipe::Recipe;
use crate::record::renderer::{Progress, SharedProgress};
use crate::record::rundir::{EpochRow, RunDir, RunInfo, RunLock, RunStatus, RunSummary};
use crate::run::checkpoint::resumable_epoch;
use crate::run::classifier::Classifier;
use crate::run::data::{RunData, prepare};
use crate::run::diagnostics::Diagnostics;
use crate::run::finish::{self, Ending, picture};
use crate::run::learner::{self, Epochs};
use crate::run::transfer::TransferPlan;

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

/// `--overfit-batches`: K fixed batches, no augmentation, no regularisation.
fn overfit_recipe(mut recipe: Recipe) -> Recipe {
    recipe.augment = Default::default();
    recipe.optimizer.weight_decay = 0.0;
    if ModelConfig::takes(recipe.model.arch, convlab_models::Knob::Dropout) {
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
    let cfg = crate::run::model::config_for_data(&recipe, &data)?;
    let images = data.train.set().len();
    crate::run::model::check_memory(&recipe, &cfg, images, selected.backend)?;
    let run = match &opts.run_dir {
        Some(dir) => RunDir::create_at(dir)?,
        None => RunDir::create(&opts.out, &recipe.name)?,
    };
    let lock = match run.lock() {
        Ok(lock) => lock,
        Err(e) => {
            // The directory was made just now (never an existing one): leave nothing behind.
            let _ = std::fs::remove_dir_all(run.path());
            return Err(e.into());
        }
    };
    run.write_recipe(&recipe)?;
    run.write_info(&RunInfo {
        recipe: recipe.name.clone(),
        backend: selected.backend.name().to_string(),
        device: selected.description.clone(),
        gpu: selected.gpu.clone(),
        overfit_batches: opts.overfit_batches,
        started_by: RunInfo::binary(),
        started_at: chrono::Local::now().to_rfc3339(),
    })?;
    run.write_metrics(&[])?;
    let path = run.path().to_path_buf();
    let outcome = Session {
        recipe,
        data,
        run,
        selected,
        overfit_batches: opts.overfit_batches,
        resume_epoch: None,
        rows: vec![],
        _lock: lock,
    }
    .run(opts);
    if outcome.is_err() {
        remove_if_empty(&path);
    }
    outcome
}

/// A new run that failed before its first epoch ended (no epoch row, no checkpoint) leaves
/// nothing to resume or read: its directory goes, so `runs/` holds runs, not debris. The
/// directory was created by this process and its lock is released by now.
fn remove_if_empty(path: &Path) {
    let Ok(run) = RunDir::open(path) else {
        return;
    };
    if run.last_checkpoint().is_none() && run.metrics().is_ok_and(|rows| rows.is_empty()) {
        match std::fs::remove_dir_all(path) {
            Ok(()) => eprintln!(
                "{}: removed (the run failed before its first epoch ended)",
                path.display()
            ),
            Err(e) => eprintln!("warning: {}: not removed: {e}", path.display()),
        }
    }
}

/// Continues a run from a checkpoint, with the recipe, backend and data it started with.
pub fn resume(dir: &Path, opts: &TrainOptions, resume: &ResumeOptions) -> Result<RunOutcome> {
    let run = RunDir::open(dir)?;
    // Before anything is read: a run another process is writing is refused, never merged.
    let lock = run.lock()?;
    crate::run::checkpoint::remove_leftovers(&run);
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
        if recipe.schedule.kind == crate::config::recipe::ScheduleKind::Cosine {
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
    let cfg = crate::run::model::config_for_data(&recipe, &data)?;
    let images = data.train.set().len();
    crate::run::model::check_memory(&recipe, &cfg, images, selected.backend)?;
    let template =
        crate::run::model::classifier(&recipe, cfg.init(&selected.device.clone().autodiff())?);
    let epoch = resumable_epoch(&run, resume.from_epoch, &template)?;
    // Rows after the resumed epoch are trained again; the atomic rewrite keeps the file whole.
    let rows: Vec<EpochRow> = run
        .metrics()?
        .into_iter()
        .filter(|r| r.epoch <= epoch)
        .collect();
    crate::run::checkpoint::check_history(&run, &rows, epoch)?;
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
        _lock: lock,
    }
    .run(opts)
}

struct Session {
    recipe: Recipe,
    data: RunData,
    run: RunDir,
    selected: Selected,
    overfit_batches: Option<usize>,
    resume_epoch: Option<usize>,
    rows: Vec<EpochRow>,
    /// The run directory's write lock, held until the session ends.
    _lock: RunLock,
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

    /// The stages of a run, top to bottom: model, loaders, the first sanity check, epochs,
    /// learner, training, ending, test, summary.
    fn run(self, opts: &TrainOptions) -> Result<RunOutcome> {
        let started = Instant::now();
        let device = self.selected.device.clone();
        println!(
            "run {} on {}",
            self.run.path().display(),
            self.selected.description
        );
        let train_device = device.clone().autodiff();
        let built = self.build_model(&train_device)?;
        let loaders = self.loaders(&train_device)?;
        if self.resume_epoch.is_none() {
            self.initial_loss_check(&built, &device);
        }
        let epochs = self.epochs(opts, loaders.0.num_items())?;
        let (cfg, parameters) = (built.cfg.clone(), built.parameters);
        let wired = self.wire(built, loaders, epochs, opts)?;
        let result = wired.training.launch(wired.learner);
        if let Some(d) = &wired.diagnostics {
            self.close_diagnostics(d, started);
        }
        let paused = epochs.pause_at.is_some();
        let ending = Ending::of(&self.run, &result, &wired.progress, paused)?;
        // The result holds the progress view (burn-train's TUI), which leaves the terminal's
        // alternate screen when dropped: close it now, so the test result and the closing
        // lines below stay on the screen after the run.
        drop(result);
        let finished = matches!(
            ending.status,
            RunStatus::Completed | RunStatus::EarlyStopped
        );
        if self.resume_epoch.is_some() && finished {
            finish::prune_stale(&self.run, &ending.rows);
        }
        let best = self.run.best_epoch()?;
        let test = self.test(&ending, best, &cfg, &device)?;
        let facts = finish::Facts {
            recipe: &self.recipe,
            selected: &self.selected,
            parameters,
            started,
            before_s: self.resume_epoch.map_or(0.0, |resumed_after| {
                (ending.rows.iter())
                    .filter(|r| r.epoch <= resumed_after)
                    .map(|r| r.epoch_s)
                    .sum()
            }),
        };
        let summary = finish::summary(&ending, best, test, facts);
        finish::write(&self.run, &summary)?;
        finish::report(&self.run, &self.recipe, &summary, &ending);
        Ok(RunOutcome {
            run: self.run,
            summary,
            rows: ending.rows,
        })
    }

    /// The learner stage: burn-train's training over the loaders (the training loader at the
    /// session's first epoch), the classifier watched by diagnostics and the step counter, the
    /// optimizer and the schedule.
    fn wire(
        &self,
        built: Built,
        loaders: (EpochLoader, EpochLoader),
        epochs: Epochs,
        opts: &TrainOptions,
    ) -> Result<Wired> {
        let loaders = (loaders.0.starting_at(epochs.start), loaders.1);
        let progress: SharedProgress = Arc::new(Mutex::new(Progress {
            rows: self.rows.clone(),
            ..Default::default()
        }));
        let classes = self.data.class_names.len();
        let (run, recipe) = (&self.run, &self.recipe);
        let (training, interrupter) =
            learner::training(run, recipe, classes, loaders, epochs, &progress, opts.tui);
        let transfer = built.transfer.as_ref();
        let scheduler = learner::scheduler(recipe, transfer, epochs.iters_per_epoch);
        let mut classifier = crate::run::model::classifier(recipe, built.model);
        let device = self.selected.device.clone();
        let diagnostics = learner::diagnostics(run, recipe, &self.data, &device, epochs)?;
        let steps = (opts.stop_after_iterations, opts.nan_after_iterations);
        let signals = opts.handle_signals;
        learner::watch(
            &mut classifier,
            diagnostics.clone(),
            &interrupter,
            steps,
            signals,
        );
        let optimizer = crate::run::optim::build(&recipe.optimizer);
        Ok(Wired {
            training,
            learner: Learner::new(classifier, optimizer, scheduler),
            progress,
            diagnostics,
        })
    }

    /// The model stage: the recipe's config completed by the data, the module built with the
    /// recipe's seed, a transfer applied (its plan printed), the first filters drawn.
    fn build_model(&self, device: &Device) -> Result<Built> {
        let cfg = crate::run::model::config_for_data(&self.recipe, &self.data)?;
        let model = crate::run::model::build(&cfg, device, self.recipe.seed)?;
        let (model, transfer) = match &self.recipe.transfer {
            Some(t) => {
                let fresh = self.resume_epoch.is_none();
                let (m, plan) = crate::run::transfer::prepare(t, model, fresh)?;
                println!("{}", plan.describe(t));
                (m, Some(plan))
            }
            None => (model, None),
        };
        let parameters = convlab_blocks::count_params(&model);
        if self.resume_epoch.is_none() {
            let path = self.run.file("filters-init.png");
            picture(
                "filters-init.png",
                crate::record::pictures::filters(&path, &model).map(|_| ()),
            );
        }
        Ok(Built {
            cfg,
            model,
            transfer,
            parameters,
        })
    }

    /// Initial loss on the first plain training batch (see [`crate::run::model::initial_loss_check`]); a model
    /// whose weights were copied in is expected below ln(classes).
    fn initial_loss_check(&self, built: &Built, device: &Device) {
        let pretrained = built
            .transfer
            .as_ref()
            .is_some_and(|t| !t.copied.is_empty());
        let model = &built.model.valid();
        let probe = EpochLoader::new(
            self.data.train_plain.clone(),
            self.recipe.batch_size,
            None,
            device.clone(),
        );
        crate::run::model::initial_loss_check(
            model,
            &probe,
            self.data.class_names.len(),
            pretrained,
        );
    }

    /// The epochs this session trains; a pause at or before the start is an error.
    fn epochs(&self, opts: &TrainOptions, train_items: usize) -> Result<Epochs> {
        let start = self.resume_epoch.unwrap_or(0);
        let pause_at = opts.until_epoch.filter(|&u| u < self.recipe.epochs);
        if let Some(u) = pause_at
            && u <= start
        {
            bail!("--until-epoch {u}: the run already has {start} epochs");
        }
        Ok(Epochs {
            start,
            resume: self.resume_epoch,
            pause_at,
            all: self.recipe.epochs,
            iters_per_epoch: train_items.div_ceil(self.recipe.batch_size),
        })
    }

    /// The diagnostics picture and their own cost, however training ended.
    fn close_diagnostics(&self, d: &Diagnostics, started: Instant) {
        picture(crate::record::diagnostics::PICTURE, d.draw());
        let (n, seconds) = d.cost();
        if n > 0 {
            println!(
                "diagnostics: {n} measurements (every {} steps) in {seconds:.2}s of {:.1}s",
                self.recipe.diagnostics.every,
                started.elapsed().as_secs_f64()
            );
        }
    }

    /// The best checkpoint on the test split, for runs that finished.
    fn test(
        &self,
        ending: &Ending,
        best: Option<usize>,
        cfg: &ModelConfig,
        device: &Device,
    ) -> Result<Option<Evaluation>> {
        match ending.status {
            RunStatus::Completed | RunStatus::EarlyStopped => {
                let b = best.ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: the run finished but no checkpoint has a finite validation loss to evaluate on the test split",
                        self.run.path().display()
                    )
                })?;
                let test =
                    finish::evaluate_test(&self.run, &self.recipe, &self.data, cfg, b, device)?;
                Ok(Some(test))
            }
            RunStatus::Interrupted | RunStatus::Diverged => Ok(None),
        }
    }
}

/// The learner stage's result: what `launch` takes, and what is read after it.
struct Wired {
    training: SupervisedTraining<Classifier>,
    learner: Learner<Classifier>,
    progress: SharedProgress,
    diagnostics: Option<Diagnostics>,
}

/// The model stage's result.
struct Built {
    cfg: ModelConfig,
    model: convlab_models::Model,
    transfer: Option<TransferPlan>,
    parameters: u64,
}

/// The backend a run directory's run was started on (from its `run.json`), if readable: a
/// resumed run continues there.
pub fn recorded_backend(dir: &Path) -> Option<Backend> {
    RunDir::open(dir)
        .and_then(|r| r.info())
        .ok()
        .and_then(|i| i.backend.parse().ok())
}
