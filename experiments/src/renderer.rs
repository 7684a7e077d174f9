//! Run progress: one concise line per epoch (or burn-train's TUI on a terminal), and the
//! per-epoch metrics appended to `metrics.csv` as each epoch ends, so a killed run keeps them.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use burn::train::LearnerSummary;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use serde::{Deserialize, Serialize};

/// One epoch's numbers (accuracies in %).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_acc: f64,
    pub train_top5: f64,
    pub valid_loss: f64,
    pub valid_acc: f64,
    pub valid_top5: f64,
    pub lr: f64,
    pub images_per_s: f64,
    pub epoch_s: f64,
}

pub const CSV_HEADER: &str =
    "epoch,train_loss,train_acc,train_top5,valid_loss,valid_acc,valid_top5,lr,images_per_s,epoch_s";

impl EpochRow {
    pub fn csv(&self) -> String {
        format!(
            "{},{:.6},{:.4},{:.4},{:.6},{:.4},{:.4},{:.6e},{:.1},{:.2}",
            self.epoch,
            self.train_loss,
            self.train_acc,
            self.train_top5,
            self.valid_loss,
            self.valid_acc,
            self.valid_top5,
            self.lr,
            self.images_per_s,
            self.epoch_s
        )
    }

    pub fn parse(line: &str) -> Option<EpochRow> {
        let v: Vec<&str> = line.split(',').collect();
        if v.len() != 10 {
            return None;
        }
        let f = |i: usize| v[i].trim().parse::<f64>().ok();
        Some(EpochRow {
            epoch: v[0].trim().parse().ok()?,
            train_loss: f(1)?,
            train_acc: f(2)?,
            train_top5: f(3)?,
            valid_loss: f(4)?,
            valid_acc: f(5)?,
            valid_top5: f(6)?,
            lr: f(7)?,
            images_per_s: f(8)?,
            epoch_s: f(9)?,
        })
    }

    pub fn line(&self, total: usize) -> String {
        format!(
            "epoch {:>3}/{total}  train loss {:.4} acc {:6.2}%  valid loss {:.4} acc {:6.2}% top5 {:6.2}%  lr {:.2e}  {:>7.0} img/s  {:.1}s",
            self.epoch,
            self.train_loss,
            self.train_acc,
            self.valid_loss,
            self.valid_acc,
            self.valid_top5,
            self.lr,
            self.images_per_s,
            self.epoch_s
        )
    }
}

/// Reads `metrics.csv` (rows in epoch order).
pub fn read_csv(path: &std::path::Path) -> Vec<EpochRow> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().skip(1).filter_map(EpochRow::parse).collect())
        .unwrap_or_default()
}

pub struct RunRenderer {
    inner: Option<Box<dyn MetricsRenderer>>,
    names: HashMap<MetricId, String>,
    finals: HashMap<(bool, String), f64>,
    total_epochs: usize,
    split_start: Option<Instant>,
    split_items: usize,
    in_train: bool,
    train_rate: f64,
    epoch_start: Option<Instant>,
    csv: PathBuf,
}

impl RunRenderer {
    /// `inner`: a renderer to forward everything to (the TUI); without one, a line per epoch.
    pub fn new(csv: PathBuf, inner: Option<Box<dyn MetricsRenderer>>) -> Self {
        Self {
            inner,
            names: HashMap::new(),
            finals: HashMap::new(),
            total_epochs: 0,
            split_start: None,
            split_items: 0,
            in_train: false,
            train_rate: 0.0,
            epoch_start: None,
            csv,
        }
    }

    fn record(&mut self, valid: bool, state: &MetricState) {
        if let MetricState::Numeric(entry, Some(NumericEntry::Final(v))) = state
            && let Some(name) = self.names.get(&entry.metric_id)
        {
            self.finals.insert((valid, name.clone()), *v);
        }
    }

    fn get(&self, valid: bool, prefix: &str) -> f64 {
        self.finals
            .iter()
            .find(|((v, n), _)| *v == valid && n.starts_with(prefix))
            .map_or(f64::NAN, |(_, x)| *x)
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
        self.total_epochs = total_epochs;
        if let Some(i) = &mut self.inner {
            i.start(total_epochs, starting_epoch, total_items, label);
        }
    }

    fn update_epoch(&mut self, epoch: usize) {
        let row = EpochRow {
            epoch,
            train_loss: self.get(false, "Loss"),
            train_acc: self.get(false, "Accuracy"),
            train_top5: self.get(false, "Top-K"),
            valid_loss: self.get(true, "Loss"),
            valid_acc: self.get(true, "Accuracy"),
            valid_top5: self.get(true, "Top-K"),
            lr: self.get(false, "Learning Rate"),
            images_per_s: self.train_rate,
            epoch_s: self.epoch_start.map_or(0.0, |t| t.elapsed().as_secs_f64()),
        };
        self.finals.clear();
        let new_file = !self.csv.exists();
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.csv)
        {
            if new_file {
                let _ = writeln!(f, "{CSV_HEADER}");
            }
            let _ = writeln!(f, "{}", row.csv());
        }
        match &mut self.inner {
            Some(i) => i.update_epoch(epoch),
            None => println!("{}", row.line(self.total_epochs)),
        }
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.in_train = split == "train";
        if self.in_train {
            self.epoch_start = Some(Instant::now());
        }
        self.split_start = Some(Instant::now());
        self.split_items = 0;
        if let Some(i) = &mut self.inner {
            i.start_split(split, total_items);
        }
    }

    fn update_split(&mut self, items_processed: usize) {
        self.split_items = items_processed;
        if let Some(i) = &mut self.inner {
            i.update_split(items_processed);
        }
    }

    fn end_split(&mut self) {
        // Train split ends before valid starts: its rate is the training throughput.
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
