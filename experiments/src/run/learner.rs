//! The learner stage: burn-train's supervised training wired for one run (metrics,
//! checkpointers and their strategy, early stopping, the run directory's renderer), the
//! learning-rate schedule with a transfer's scaled group, the step counter with diagnostics, and
//! the Ctrl-C / SIGTERM handler.

use std::sync::{Arc, Mutex};

use anyhow::Result;
use burn::data::dataloader::DataLoader;
use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::tensor::Device;
use burn::train::checkpoint::{
    ComposedCheckpointingStrategy, KeepLastNCheckpoints, MetricCheckpointingStrategy,
};
use burn::train::logger::{InMemoryMetricLogger, MetricLogger};
use burn::train::metric::store::{Aggregate, Direction, EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{LearningRateMetric, LossMetric, MetricDefinition, NumericEntry};
use burn::train::{Interrupter, SupervisedTraining};

use crate::base::loader::EpochLoader;
use crate::base::metrics::{Objective, RankAccuracy};
use crate::config::recipe::Recipe;
use crate::record::renderer::{Patience, RunRenderer, SharedProgress};
use crate::record::rundir::EpochRow;
use crate::record::rundir::RunDir;
use crate::run::checkpoint::AtomicCheckpointer;
use crate::run::classifier::{Classifier, StepCounter};
use crate::run::data::RunData;
use crate::run::diagnostics::Diagnostics;
use crate::run::schedule::Schedule;
use crate::run::transfer::TransferPlan;

/// Epochs a session trains: where it starts, where it stops, and the steps in each.
#[derive(Debug, Clone, Copy)]
pub struct Epochs {
    /// The epoch the session starts after (0 for a new run).
    pub start: usize,
    /// The checkpoint a resumed session starts from (burn-train loads it).
    pub resume: Option<usize>,
    /// The epoch the session pauses after (`--until-epoch`), when before the recipe's last.
    pub pause_at: Option<usize>,
    /// The recipe's epochs in all.
    pub all: usize,
    pub iters_per_epoch: usize,
}

/// burn-train's supervised training for a run: top-1/top-5 and loss on both splits, the
/// objective and learning rate while training, checkpoints written atomically (the last two
/// and the best by validation loss), early stopping judged on every row of the run, and
/// `RunRenderer` rewriting the run directory each epoch (burn-train's terminal UI inside it
/// when `tui` and stdout is a terminal).
pub fn training(
    run: &RunDir,
    recipe: &Recipe,
    classes: usize,
    loaders: (EpochLoader, EpochLoader),
    epochs: Epochs,
    progress: &SharedProgress,
    tui: bool,
) -> (SupervisedTraining<Classifier>, Interrupter) {
    let (train_loader, valid_loader) = loaders;
    let mut training = SupervisedTraining::<Classifier>::new(
        run.path(),
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
    .num_epochs(epochs.pause_at.unwrap_or(epochs.all))
    // burn-train runs each checkpointer on a thread of its own and reports a failed save (a
    // full disk) to the interrupter, which ends training with an error; an extra asynchronous
    // wrapper of ours would have no interrupter and panic instead.
    .with_custom_checkpointers(
        AtomicCheckpointer::new(run, "model"),
        AtomicCheckpointer::new(run, "optim"),
        AtomicCheckpointer::new(run, "scheduler"),
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
    .with_application_logger(None)
    .with_metric_logger(RunMetricLogger::new(progress, epochs.start));
    if let Some(patience) = recipe.train.early_stopping_patience {
        training = training.early_stopping(Patience {
            patience,
            progress: progress.clone(),
        });
    }
    if let Some(e) = epochs.resume {
        training = training.checkpoint(e);
    }
    let interrupter = training.interrupter();
    let inner = (tui && std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .then(|| burn::train::renderer::default_renderer(interrupter.clone(), epochs.resume));
    training = training.renderer(Box::new(
        RunRenderer::new(run.clone(), progress.clone(), interrupter.clone(), inner)
            .with_recipe_epochs(recipe.epochs),
    ));
    (training, interrupter)
}

/// The metric store burn-train reads to keep the best checkpoint, in memory: burn-train's own
/// file logger writes per-batch logs into the run directory and panics when a write fails (a
/// full disk); `metrics.csv` is the run's record. Epochs of earlier sessions of a resumed run
/// are answered from its rows: each epoch's final training and validation loss, exactly the
/// values burn-train aggregated when it logged them (the checkpointing strategy reads the
/// validation loss).
struct RunMetricLogger {
    memory: InMemoryMetricLogger,
    /// Rows of the epochs before this session.
    history: Vec<EpochRow>,
    /// The epoch this session starts after.
    start: usize,
}

impl RunMetricLogger {
    fn new(progress: &SharedProgress, start: usize) -> Self {
        let rows = progress.lock().map(|p| p.rows.clone()).unwrap_or_default();
        Self {
            memory: InMemoryMetricLogger::new(),
            history: rows.into_iter().filter(|r| r.epoch <= start).collect(),
            start,
        }
    }
}

impl MetricLogger for RunMetricLogger {
    fn log(&mut self, update: MetricsUpdate, epoch: usize, split: &Split) {
        self.memory.log(update, epoch, split);
    }

    fn read_numeric(
        &mut self,
        name: &str,
        epoch: usize,
        split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        if epoch > self.start {
            // The in-memory logger counts epochs from the first one it saw.
            return self.memory.read_numeric(name, epoch - self.start, split);
        }
        let Some(row) = self.history.iter().find(|r| r.epoch == epoch) else {
            return Ok(vec![]);
        };
        Ok(match (name, split) {
            ("Loss", Split::Valid) => vec![NumericEntry::Final(row.valid_loss)],
            ("Loss", Split::Train) => vec![NumericEntry::Final(row.train_loss)],
            _ => vec![],
        })
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        self.memory.log_metric_definition(definition);
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        self.memory.log_epoch_summary(summary);
    }
}

/// Diagnostics for a run whose recipe asks for them (`diagnostics.every > 0`): the probe batch
/// is the first images of the validation split (no augmentation), on the plain device the
/// diagnostics run the model on.
pub fn diagnostics(
    run: &RunDir,
    recipe: &Recipe,
    data: &RunData,
    device: &Device,
    epochs: Epochs,
) -> Result<Option<Diagnostics>> {
    if recipe.diagnostics.every == 0 {
        return Ok(None);
    }
    let probe = EpochLoader::new(
        data.valid.clone(),
        recipe.diagnostics.probe,
        None,
        device.clone(),
    )
    .iter()
    .next()
    .transpose()?
    .map(|b| b.images);
    Ok(Some(Diagnostics::new(
        recipe.diagnostics.clone(),
        run.path(),
        &recipe.name,
        epochs.iters_per_epoch,
        epochs.start * epochs.iters_per_epoch,
        probe,
    )?))
}

/// What watches each training step: the diagnostics (if any) and the step counter that stops
/// or poisons a run after so many iterations (tests of interrupted and diverging runs); the
/// signal handler when the binary asks for it.
pub fn watch(
    classifier: &mut Classifier,
    diagnostics: Option<Diagnostics>,
    interrupter: &Interrupter,
    (stop_after, nan_after): (Option<usize>, Option<usize>),
    handle_signals: bool,
) {
    classifier.diagnostics = diagnostics;
    classifier.counter = Some(StepCounter::new(interrupter.clone(), stop_after, nan_after));
    if handle_signals {
        install_signal_handler(interrupter.clone());
        stop_with_parent(interrupter.clone());
    }
}

/// The recipe's schedule per step; a transfer that scales the new layers' rate gets its own
/// group with the same schedule at `lr · lr_scale`.
pub fn scheduler(
    recipe: &Recipe,
    transfer: Option<&TransferPlan>,
    iters_per_epoch: usize,
) -> ModuleLrScheduler {
    let schedule =
        |lr: f64| Schedule::new(recipe.schedule.clone(), lr, iters_per_epoch, recipe.epochs);
    let mut scheduler = ModuleLrScheduler::from(schedule(recipe.optimizer.lr));
    if let Some(group) = transfer.and_then(crate::run::transfer::scaled_group) {
        let scale = recipe.transfer.as_ref().map_or(1.0, |t| t.lr_scale);
        scheduler = scheduler.with_group(group, schedule(recipe.optimizer.lr * scale));
    }
    scheduler
}

/// Set by a sweep's local executor to its own pid: the run it starts stops (after the current
/// batch, its last checkpoint kept) once that process is gone, even when it was killed with -9,
/// instead of running on as an orphan that the sweep's next invocation would collide with.
pub const PARENT_ENV: &str = "CONVLAB_STOP_WITH_PARENT";

/// Watches the parent named by [`PARENT_ENV`] (twice a second) and stops the run when this
/// process has been handed to another parent.
fn stop_with_parent(interrupter: Interrupter) {
    let Some(parent) = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return;
    };
    #[cfg(unix)]
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(500));
            if std::os::unix::process::parent_id() != parent {
                eprintln!(
                    "the sweep that started this run (pid {parent}) is gone: stopping after the current batch"
                );
                interrupter.stop(Some("the sweep that started this run is gone"));
                return;
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (parent, interrupter);
}

static SIGNAL_TARGET: Mutex<Option<Interrupter>> = Mutex::new(None);

/// Ctrl-C / SIGTERM stop the run after the current batch (its last epoch's checkpoint kept); a
/// second one exits at once. Installed once per process; each run points it at its own
/// interrupter.
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
