//! The training wrapper: a model plus its loss, implementing burn-train's step traits (the
//! orphan rule keeps them out of the model crate).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Tensor;
use burn::train::{ClassificationOutput, InferenceStep, Interrupter, TrainOutput, TrainStep};
use convlab_datasets::ImageBatch;
use convlab_models::Model;

/// Watches training steps: stops the run when the loss stops being finite (the divergence
/// guard), or after a set number of iterations (used to test interrupted runs).
#[derive(Clone)]
pub struct RunGuard {
    interrupter: Interrupter,
    diverged: Arc<AtomicBool>,
    steps: Arc<AtomicUsize>,
    stop_after: Option<usize>,
}

impl std::fmt::Debug for RunGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RunGuard(diverged: {}, steps: {})",
            self.diverged(),
            self.steps()
        )
    }
}

impl RunGuard {
    pub fn new(interrupter: Interrupter, stop_after: Option<usize>) -> Self {
        Self {
            interrupter,
            diverged: Arc::new(AtomicBool::new(false)),
            steps: Arc::new(AtomicUsize::new(0)),
            stop_after,
        }
    }

    pub fn diverged(&self) -> bool {
        self.diverged.load(Ordering::SeqCst)
    }

    /// Training steps taken in this process.
    pub fn steps(&self) -> usize {
        self.steps.load(Ordering::SeqCst)
    }

    fn after_step(&self, loss: f32) {
        if !loss.is_finite() && !self.diverged.swap(true, Ordering::SeqCst) {
            self.interrupter.stop(Some(&format!(
                "divergence: the training loss became {loss}"
            )));
        }
        let n = self.steps.fetch_add(1, Ordering::SeqCst) + 1;
        if self.stop_after == Some(n) {
            self.interrupter
                .stop(Some(&format!("stopped after {n} iterations as requested")));
        }
    }
}

#[derive(Module, Debug)]
pub struct Classifier {
    pub model: Model,
    pub label_smoothing: Option<f32>,
    /// Weight of auxiliary-head losses (GoogLeNet).
    pub aux_weight: f64,
    #[module(skip)]
    pub guard: Option<RunGuard>,
}

impl Classifier {
    pub fn new(model: Model, label_smoothing: Option<f32>, aux_weight: f64) -> Self {
        Self {
            model,
            label_smoothing,
            aux_weight,
            guard: None,
        }
    }

    fn loss(
        &self,
        logits: Tensor<2>,
        targets: burn::tensor::Tensor<1, burn::tensor::Int>,
    ) -> Tensor<1> {
        CrossEntropyLossConfig::new()
            .with_smoothing(self.label_smoothing)
            .init(&logits.device())
            .forward(logits, targets)
    }

    /// Loss and logits without auxiliary heads (evaluation).
    pub fn evaluate(&self, batch: ImageBatch) -> ClassificationOutput {
        let logits = self.model.forward(batch.images);
        let loss = self.loss(logits.clone(), batch.targets.clone());
        ClassificationOutput::new(loss, logits, batch.targets)
    }
}

impl TrainStep for Classifier {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ImageBatch) -> TrainOutput<ClassificationOutput> {
        let (logits, aux) = self.model.forward_with_aux(batch.images);
        let mut loss = self.loss(logits.clone(), batch.targets.clone());
        let main = loss.clone();
        for a in aux {
            loss = loss
                + self
                    .loss(a, batch.targets.clone())
                    .mul_scalar(self.aux_weight);
        }
        if let Some(guard) = &self.guard {
            guard.after_step(loss.clone().into_scalar::<f32>());
        }
        let grads = loss.backward();
        TrainOutput::new(
            self,
            grads,
            ClassificationOutput::new(main, logits, batch.targets),
        )
    }
}

impl InferenceStep for Classifier {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ImageBatch) -> ClassificationOutput {
        self.evaluate(batch)
    }
}
