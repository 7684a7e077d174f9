//! Run progress: one concise line per epoch (or burn-train's TUI on a terminal), the epoch rows
//! written to `metrics.csv` as each epoch ends (so a killed run keeps them), early stopping
//! whose state is those rows (so it survives a resume), and the divergence guard (a
//! non-finite training loss stops the run before the epoch is checkpointed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::store::EventStoreClient;
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use burn::train::{EarlyStoppingStrategy, Interrupter, LearnerSummary};

use crate::record::rundir::{EpochRow, RunDir};

/// What the renderer learned about the run, shared with the code that started it.
#[derive(Debug, Default)]
pub struct Progress {
    /// Every epoch row of the run (those of earlier sessions first, on resume).
    pub rows: Vec<EpochRow>,
    /// The training loss became NaN or infinite.
    pub diverged: Option<f64>,
    /// Early stopping ended the run after this epoch.
    pub early_stopped: Option<usize>,
    /// `metrics.csv` could not be written; the run is stopped.
    pub write_error: Option<String>,
}

pub type SharedProgress = Arc<Mutex<Progress>>;

fn lock(p: &SharedProgress) -> std::sync::MutexGuard<'_, Progress> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stops the run when the validation loss has not improved for `patience` epochs, judged on
/// every row of the run, including those before a resume.
#[derive(Clone)]
pub struct Patience {
    pub patience: usize,
    pub progress: SharedProgress,
}

/// Whether `patience` epochs have passed since the lowest validation loss of `rows` (the
/// first of equal ones) by the end of `epoch`.
pub fn patience_exhausted(rows: &[EpochRow], epoch: usize, patience: usize) -> bool {
    let best = rows
        .iter()
        .filter(|r| r.epoch <= epoch && r.valid_loss.is_finite())
        .min_by(|a, b| a.valid_loss.total_cmp(&b.valid_loss))
        .map_or(0, |r| r.epoch);
    epoch >= best + patience
}

impl EarlyStoppingStrategy for Patience {
    fn should_stop(&mut self, epoch: usize, _store: &EventStoreClient) -> bool {
        let mut p = lock(&self.progress);
        let stop = patience_exhausted(&p.rows, epoch, self.patience);
        if stop {
            p.early_stopped = Some(epoch);
        }
        stop
    }
}

pub struct RunRenderer {
    inner: Option<Box<dyn MetricsRenderer>>,
    run: RunDir,
    progress: SharedProgress,
    interrupter: Interrupter,
    names: HashMap<MetricId, String>,
    finals: HashMap<(bool, String), f64>,
    total_epochs: usize,
    /// The recipe's epochs, printed as the total when a run pauses before them.
    recipe_epochs: Option<usize>,
    split_start: Option<Instant>,
    split_items: usize,
    in_train: bool,
    train_rate: f64,
    epoch_start: Option<Instant>,
    /// Without the TUI: the epoch in progress, the split's size and when the last progress
    /// line within it was printed.
    epoch: usize,
    split_name: String,
    split_total: usize,
    last_note: Option<Instant>,
    note_every: std::time::Duration,
}

/// Without the TUI, a line within an epoch at most this often (`CONVLAB_PROGRESS_SECS`
/// changes it): logs and Slurm outputs show a long epoch moving.
const PROGRESS_EVERY_S: f64 = 30.0;

fn progress_every() -> std::time::Duration {
    let s = std::env::var("CONVLAB_PROGRESS_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .unwrap_or(PROGRESS_EVERY_S);
    std::time::Duration::from_secs_f64(s)
}

impl RunRenderer {
    /// `inner`: a renderer to forward everything to (the TUI); without one, a line per epoch.
    pub fn new(
        run: RunDir,
        progress: SharedProgress,
        interrupter: Interrupter,
        inner: Option<Box<dyn MetricsRenderer>>,
    ) -> Self {
        Self {
            inner,
            run,
            progress,
            interrupter,
            names: HashMap::new(),
            finals: HashMap::new(),
            total_epochs: 0,
            recipe_epochs: None,
            split_start: None,
            split_items: 0,
            in_train: false,
            train_rate: 0.0,
            epoch_start: None,
            epoch: 1,
            split_name: String::new(),
            split_total: 0,
            last_note: None,
            note_every: progress_every(),
        }
    }

    /// Without the TUI: `  epoch 3/10 train 12800/45000 images (28%), 1234 img/s, ~26 s left`,
    /// at most once per `note_every` within a split.
    fn note_progress(&mut self) {
        let (Some(start), true) = (self.split_start, self.inner.is_none()) else {
            return;
        };
        let since = self.last_note.unwrap_or(start).elapsed();
        if since < self.note_every || self.split_items == 0 || self.split_items >= self.split_total
        {
            return;
        }
        self.last_note = Some(Instant::now());
        let s = start.elapsed().as_secs_f64();
        let rate = self.split_items as f64 / s.max(1e-9);
        let left = (self.split_total - self.split_items) as f64 / rate.max(1e-9);
        println!(
            "  epoch {}/{} {} {}/{} images ({:.0}%), {:.0} img/s, ~{:.0} s left",
            self.epoch,
            self.total_epochs,
            self.split_name,
            self.split_items,
            self.split_total,
            100.0 * self.split_items as f64 / self.split_total.max(1) as f64,
            rate,
            left
        );
    }

    /// Print `epoch k/<epochs>` with the recipe's epochs (a run paused early trains fewer).
    pub fn with_recipe_epochs(mut self, epochs: usize) -> Self {
        self.recipe_epochs = Some(epochs);
        self
    }

    fn record(&mut self, valid: bool, state: &MetricState) {
        let MetricState::Numeric(entry, Some(value)) = state else {
            return;
        };
        let Some(name) = self.names.get(&entry.metric_id).cloned() else {
            return;
        };
        let v = match value {
            NumericEntry::Value(v) => *v,
            NumericEntry::Aggregated {
                aggregated_value, ..
            } => *aggregated_value,
            NumericEntry::Final(v) => {
                self.finals.insert((valid, name.clone()), *v);
                *v
            }
        };
        if !valid && name == "Loss" && !v.is_finite() {
            let mut p = lock(&self.progress);
            if p.diverged.is_none() {
                p.diverged = Some(v);
                self.interrupter
                    .stop(Some(&format!("divergence: the training loss became {v}")));
            }
        }
    }

    fn get(&self, valid: bool, name: &str) -> f64 {
        self.finals
            .get(&(valid, name.to_string()))
            .copied()
            .unwrap_or(f64::NAN)
    }
}

impl MetricsRendererTraining for RunRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.record(false, &state);
        if let Some(i) = &mut self.inner {
            i.update_train(state);
        }
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(true, &state);
        if let Some(i) = &mut self.inner {
            i.update_valid(state);
        }
    }

    fn on_train_end(
        &mut self,
        summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        match &mut self.inner {
            Some(i) => i.on_train_end(summary),
            None => Ok(()),
        }
    }
}

impl MetricsRendererEvaluation for RunRenderer {
    fn update_test(&mut self, name: EvaluationName, state: MetricState) {
        if let Some(i) = &mut self.inner {
            i.update_test(name, state);
        }
    }

    fn on_test_end(
        &mut self,
        summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        match &mut self.inner {
            Some(i) => i.on_test_end(summary),
            None => Ok(()),
        }
    }
}

impl TrainingProgressLogger for RunRenderer {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        total_items: Option<usize>,
        label: Option<&str>,
    ) {
        self.total_epochs = self.recipe_epochs.unwrap_or(total_epochs).max(total_epochs);
        self.epoch = starting_epoch.max(1);
        if let Some(i) = &mut self.inner {
            i.start(total_epochs, starting_epoch, total_items, label);
        }
    }

    fn update_epoch(&mut self, epoch: usize) {
        let row = EpochRow {
            epoch,
            train_loss: self.get(false, "Loss"),
            train_objective: self.get(false, "Objective"),
            train_acc: self.get(false, "Accuracy"),
            train_top5: self.get(false, "Top-5 Accuracy"),
            valid_loss: self.get(true, "Loss"),
            valid_acc: self.get(true, "Accuracy"),
            valid_top5: self.get(true, "Top-5 Accuracy"),
            lr: self.get(false, "Learning Rate"),
            images_per_s: self.train_rate,
            epoch_s: self.epoch_start.map_or(0.0, |t| t.elapsed().as_secs_f64()),
        };
        self.finals.clear();
        self.epoch = epoch + 1;
        let line = row.line(self.total_epochs);
        {
            let mut p = lock(&self.progress);
            p.rows.retain(|r| r.epoch < epoch);
            p.rows.push(row);
            if let Err(e) = self.run.write_metrics(&p.rows) {
                let message = e.to_string();
                self.interrupter
                    .stop(Some(&format!("cannot write metrics: {message}")));
                p.write_error = Some(message);
            } else if let Err(e) = crate::record::pictures::curves(
                &self.run.file("curves.png"),
                &self.run.recipe_name(),
                &p.rows,
            ) {
                eprintln!("warning: curves.png not drawn: {e:#}");
            }
            if let Err(e) = crate::record::tensorboard::write_run(self.run.path(), &p.rows) {
                eprintln!(
                    "warning: {} not written: {e:#}",
                    crate::record::tensorboard::FILE
                );
            }
        }
        match &mut self.inner {
            Some(i) => i.update_epoch(epoch),
            None => println!("{line}"),
        }
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.in_train = split == "train";
        if self.in_train {
            self.epoch_start = Some(Instant::now());
        }
        self.split_start = Some(Instant::now());
        self.split_items = 0;
        self.split_name = split.to_string();
        self.split_total = total_items;
        self.last_note = None;
        if let Some(i) = &mut self.inner {
            i.start_split(split, total_items);
        }
    }

    fn update_split(&mut self, items_processed: usize) {
        self.split_items = items_processed;
        self.note_progress();
        if let Some(i) = &mut self.inner {
            i.update_split(items_processed);
        }
    }

    fn end_split(&mut self) {
        // The training split ends before validation starts: its rate is the throughput.
        if self.in_train {
            let s = self.split_start.map_or(0.0, |t| t.elapsed().as_secs_f64());
            self.train_rate = if s > 0.0 {
                self.split_items as f64 / s
            } else {
                0.0
            };
        }
        if let Some(i) = &mut self.inner {
            i.end_split();
        }
    }

    fn end(&mut self) {
        if let Some(i) = &mut self.inner {
            i.end();
        }
    }

    fn log_event_training(&mut self, event: String) {
        if let Some(i) = &mut self.inner {
            i.log_event_training(event);
        }
    }
}

impl EvaluationProgressLogger for RunRenderer {
    fn start_global_progress(&mut self, total_tests: usize) {
        if let Some(i) = &mut self.inner {
            i.start_global_progress(total_tests);
        }
    }
    fn start_test(&mut self, name: &str, total_items: usize) {
        if let Some(i) = &mut self.inner {
            i.start_test(name, total_items);
        }
    }
    fn update_test_progress(&mut self, items_processed: usize) {
        if let Some(i) = &mut self.inner {
            i.update_test_progress(items_processed);
        }
    }
    fn end_test(&mut self) {
        if let Some(i) = &mut self.inner {
            i.end_test();
        }
    }
    fn end_global_progress(&mut self) {
        if let Some(i) = &mut self.inner {
            i.end_global_progress();
        }
    }
    fn log_event_evaluation(&mut self, event: String) {
        if let Some(i) = &mut self.inner {
            i.log_event_evaluation(event);
        }
    }
}

impl MetricsRenderer for RunRenderer {
    fn manual_close(&mut self) {
        if let Some(i) = &mut self.inner {
            i.manual_close();
        }
    }

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
        if let Some(i) = &mut self.inner {
            i.register_metric(definition);
        }
    }
}

impl EpochRow {
    /// The console line of an epoch. Top-5 is left out where it is undefined (fewer than five
    /// classes: burn-train reports NaN).
    pub fn line(&self, total: usize) -> String {
        let top5 = if self.valid_top5.is_finite() {
            format!(" top5 {:6.2}%", self.valid_top5)
        } else {
            String::new()
        };
        format!(
            "epoch {:>3}/{total}  train loss {:.4} acc {:6.2}%  valid loss {:.4} acc {:6.2}%{top5}  lr {:.2e}  {:>7.0} img/s  {:.1}s",
            self.epoch,
            self.train_loss,
            self.train_acc,
            self.valid_loss,
            self.valid_acc,
            self.lr,
            self.images_per_s,
            self.epoch_s
        )
    }
}
