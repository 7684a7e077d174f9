//! One rule for whether a prediction is right, used by the training metrics, evaluation and
//! the confusion matrix alike:
//! - classes are ranked by logit, highest first, ties broken by class index (lower first), so
//!   the predicted class is the lowest-index maximum (`argmax` in PyTorch and NumPy);
//! - a row with a NaN logit has no prediction and is never right (it counts as wrong in top-1
//!   and top-5, and in the confusion matrix's `no prediction` column).

use std::sync::Arc;

use burn::tensor::{Int, Tensor, TensorReadError};
use burn::train::metric::state::{FormatOptions, NumericMetricState};
use burn::train::metric::{
    Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes, NumericEntry,
    SerializedEntry,
};
use serde::{Deserialize, Serialize};

/// 0-based rank of `target` among `row`'s logits under the rule above; `None` when the row has
/// a NaN (or the target is out of range).
pub fn target_rank(row: &[f32], target: usize) -> Option<usize> {
    if target >= row.len() || row.iter().any(|v| v.is_nan()) {
        return None;
    }
    let t = row[target];
    Some(
        row.iter()
            .enumerate()
            .filter(|&(j, &v)| v > t || (v == t && j < target))
            .count(),
    )
}

/// The predicted class: the lowest-index maximum; `None` for an empty row or one with a NaN.
pub fn predicted(row: &[f32]) -> Option<usize> {
    if row.is_empty() || row.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut best = 0;
    for (j, &v) in row.iter().enumerate().skip(1) {
        if v > row[best] {
            best = j;
        }
    }
    Some(best)
}

/// Loss, top-1, top-5 and the confusion matrix of a model on a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub images: usize,
    /// Mean plain cross entropy (no label smoothing), natural log.
    pub loss: f64,
    /// Accuracies in %.
    pub top1: f64,
    pub top5: f64,
    /// `confusion[true][predicted]`, over the rows that have a prediction.
    pub confusion: Vec<Vec<u64>>,
    /// Rows with a NaN logit: no prediction, counted wrong.
    #[serde(default)]
    pub no_prediction: u64,
}

/// Accumulates an [`Evaluation`] batch by batch.
#[derive(Debug, Clone)]
pub struct Tally {
    classes: usize,
    k: usize,
    n: usize,
    loss: f64,
    top1: usize,
    top5: usize,
    confusion: Vec<Vec<u64>>,
    no_prediction: u64,
}

impl Tally {
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            k: 5.min(classes),
            n: 0,
            loss: 0.0,
            top1: 0,
            top5: 0,
            confusion: vec![vec![0; classes]; classes],
            no_prediction: 0,
        }
    }

    /// Adds rows of `logits` (row-major, `classes` per row) with their targets.
    pub fn add(&mut self, logits: &[f32], targets: &[i64]) {
        for (row, &t) in logits.chunks_exact(self.classes).zip(targets) {
            let t = t as usize;
            self.n += 1;
            self.loss += cross_entropy(row, t);
            match (target_rank(row, t), predicted(row)) {
                (Some(rank), Some(pred)) => {
                    self.top1 += usize::from(rank == 0);
                    self.top5 += usize::from(rank < self.k);
                    if t < self.classes {
                        self.confusion[t][pred] += 1;
                    }
                }
                _ => self.no_prediction += 1,
            }
        }
    }

    pub fn images(&self) -> usize {
        self.n
    }

    /// `None` when nothing was added.
    pub fn finish(self) -> Option<Evaluation> {
        (self.n > 0).then(|| Evaluation {
            images: self.n,
            loss: self.loss / self.n as f64,
            top1: 100.0 * self.top1 as f64 / self.n as f64,
            top5: 100.0 * self.top5 as f64 / self.n as f64,
            confusion: self.confusion,
            no_prediction: self.no_prediction,
        })
    }
}

/// −log softmax(row)[t] in f64 (NaN for a NaN row, +∞ for a target out of range).
pub fn cross_entropy(row: &[f32], t: usize) -> f64 {
    let Some(&target) = row.get(t) else {
        return f64::INFINITY;
    };
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max
        + row
            .iter()
            .map(|&v| (v as f64 - max).exp())
            .sum::<f64>()
            .ln();
    lse - target as f64
}

/// Input of [`RankAccuracy`]: logits and targets of a batch.
pub struct RankInput {
    pub logits: Tensor<2>,
    pub targets: Tensor<1, Int>,
}

/// Top-k accuracy (%) under the rule above, as a burn-train metric.
#[derive(Clone)]
pub struct RankAccuracy {
    k: usize,
    name: MetricName,
    state: NumericMetricState,
}

impl RankAccuracy {
    /// Named `Accuracy` for k = 1, `Top-5 Accuracy` otherwise.
    pub fn new(k: usize) -> Self {
        let name = if k == 1 {
            "Accuracy".to_string()
        } else {
            format!("Top-{k} Accuracy")
        };
        Self {
            k,
            name: Arc::new(name),
            state: NumericMetricState::default(),
        }
    }
}

impl Metric for RankAccuracy {
    type Input = RankInput;

    fn update(
        &mut self,
        input: &RankInput,
        _metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let [n, classes] = input.logits.dims();
        let logits = input.logits.clone().into_data().convert::<f32>();
        let targets = input.targets.clone().into_data().convert::<i64>();
        let (logits, targets) = match (logits.as_slice::<f32>(), targets.as_slice::<i64>()) {
            (Ok(l), Ok(t)) => (l.to_vec(), t.to_vec()),
            _ => (vec![f32::NAN; n * classes], vec![0; n]),
        };
        let right = logits
            .chunks_exact(classes.max(1))
            .zip(&targets)
            .filter(|(row, t)| target_rank(row, **t as usize).is_some_and(|r| r < self.k))
            .count();
        let value = if n == 0 {
            0.0
        } else {
            100.0 * right as f64 / n as f64
        };
        self.state.update(value, n);
        Ok(self
            .state
            .compute_update(FormatOptions::new(self.name()).unit("%").precision(2)))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        Ok(self
            .state
            .compute_final(FormatOptions::new(self.name()).unit("%").precision(2)))
    }

    fn clear(&mut self) {
        self.state.reset()
    }

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: Some("%".to_string()),
            higher_is_better: true,
        }
        .into()
    }
}

impl Numeric for RankAccuracy {
    fn value(&self) -> Option<NumericEntry> {
        Some(self.state.current_value())
    }
    fn running_value(&self) -> Option<NumericEntry> {
        Some(self.state.running_value())
    }
    fn final_value(&self) -> NumericEntry {
        self.state.final_value()
    }
}

/// Input of [`Objective`]: the training objective of each sample of a batch (label smoothing
/// and auxiliary losses included), shape `[N]`.
pub struct ObjectiveInput(pub Tensor<1>);

/// The training objective as a burn-train metric (the `Loss` metric is plain cross entropy).
#[derive(Clone)]
pub struct Objective {
    name: MetricName,
    state: NumericMetricState,
}

impl Default for Objective {
    fn default() -> Self {
        Self {
            name: Arc::new("Objective".to_string()),
            state: NumericMetricState::default(),
        }
    }
}

impl Metric for Objective {
    type Input = ObjectiveInput;

    fn update(
        &mut self,
        input: &ObjectiveInput,
        _metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let [n] = input.0.dims();
        let value = input.0.clone().mean().try_into_scalar::<f64>()?;
        self.state.update(value, n);
        Ok(self
            .state
            .compute_update(FormatOptions::new(self.name()).precision(4)))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        Ok(self
            .state
            .compute_final(FormatOptions::new(self.name()).precision(4)))
    }

    fn clear(&mut self) {
        self.state.reset()
    }

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: None,
            higher_is_better: false,
        }
        .into()
    }
}

impl Numeric for Objective {
    fn value(&self) -> Option<NumericEntry> {
        Some(self.state.current_value())
    }
    fn running_value(&self) -> Option<NumericEntry> {
        Some(self.state.running_value())
    }
    fn final_value(&self) -> NumericEntry {
        self.state.final_value()
    }
}
