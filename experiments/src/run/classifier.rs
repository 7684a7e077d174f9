//! The training wrapper: a model plus its loss, implementing burn-train's step traits (the
//! orphan rule keeps them out of the model crate).
//!
//! Losses follow PyTorch's `F.cross_entropy`: mean over the batch, label smoothing as
//! `(1 − ε)·CE + ε·mean_c(−log p_c)`, GoogLeNet's auxiliary losses added with their weight.
//! What the metrics report as `Loss` is the plain cross entropy of the main head (the same
//! quantity for training, validation and test); the objective is reported separately.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::backend::ExecutionError;
use burn::module::Module;
use burn::tensor::{Int, Tensor, activation};
use burn::train::metric::{Adaptor, ItemLazy, LossInput};
use burn::train::{InferenceStep, Interrupter, TrainOutput, TrainStep};
use convlab_datasets::ImageBatch;
use convlab_models::Model;

use burn::optim::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::optim::{GradientsParams, ModuleOptimizer};

use crate::base::metrics::{ObjectiveInput, RankInput};
use crate::run::diagnostics::Diagnostics;

/// Per-sample cross entropy `[N]` of `logits [N, C]` against `targets [N]`, with label
/// smoothing `smoothing` (0 for none), as `F.cross_entropy(..., reduction="none")`.
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>, smoothing: f64) -> Tensor<1> {
    let [n, c] = logits.dims();
    let log_p = activation::log_softmax(logits, 1);
    let nll = log_p
        .clone()
        .gather(1, targets.reshape([n, 1]))
        .reshape([n])
        .neg();
    if smoothing > 0.0 {
        let uniform = log_p.sum_dim(1).reshape([n]).neg().div_scalar(c as f64);
        nll.mul_scalar(1.0 - smoothing) + uniform.mul_scalar(smoothing)
    } else {
        nll
    }
}

/// Counts training steps in this process; tests use it to stop a run after a set number of
/// them (interrupted runs) or to make the logits NaN from a given step on (the divergence
/// guard).
#[derive(Clone)]
pub struct StepCounter {
    interrupter: Interrupter,
    steps: Arc<AtomicUsize>,
    stop_after: Option<usize>,
    nan_after: Option<usize>,
}

impl std::fmt::Debug for StepCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StepCounter({})", self.steps())
    }
}

impl StepCounter {
    pub fn new(
        interrupter: Interrupter,
        stop_after: Option<usize>,
        nan_after: Option<usize>,
    ) -> Self {
        Self {
            interrupter,
            steps: Arc::new(AtomicUsize::new(0)),
            stop_after,
            nan_after,
        }
    }

    /// Whether this step's logits are to be poisoned (fault injection for tests).
    fn poisoned(&self) -> bool {
        self.nan_after.is_some_and(|n| self.steps() >= n)
    }

    pub fn steps(&self) -> usize {
        self.steps.load(Ordering::SeqCst)
    }

    fn tick(&self) {
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
    pub label_smoothing: f64,
    /// Weight of auxiliary-head losses (GoogLeNet).
    pub aux_weight: f64,
    #[module(skip)]
    pub counter: Option<StepCounter>,
    /// Update ratios, gradient norms and dead units every few steps (training runs).
    #[module(skip)]
    pub diagnostics: Option<Diagnostics>,
}

/// What a step reports to the metrics (detached).
pub struct StepOutput {
    /// Plain cross entropy per sample, `[N]`.
    pub loss: Tensor<1>,
    /// The training objective per sample, `[N]`.
    pub objective: Tensor<1>,
    pub logits: Tensor<2>,
    pub targets: Tensor<1, Int>,
}

impl ItemLazy for StepOutput {
    fn sync(self) -> Result<Self, ExecutionError> {
        self.loss.device().flush()?;
        Ok(StepOutput {
            loss: self.loss.without_autodiff(),
            objective: self.objective.without_autodiff(),
            logits: self.logits.without_autodiff(),
            targets: self.targets.without_autodiff(),
        })
    }
}

impl Adaptor<LossInput> for StepOutput {
    fn adapt(&self) -> LossInput {
        LossInput::new(self.loss.clone())
    }
}

impl Adaptor<RankInput> for StepOutput {
    fn adapt(&self) -> RankInput {
        RankInput {
            logits: self.logits.clone(),
            targets: self.targets.clone(),
        }
    }
}

impl Adaptor<ObjectiveInput> for StepOutput {
    fn adapt(&self) -> ObjectiveInput {
        ObjectiveInput(self.objective.clone())
    }
}

impl Classifier {
    pub fn new(model: Model, label_smoothing: f64, aux_weight: f64) -> Self {
        Self {
            model,
            label_smoothing,
            aux_weight,
            counter: None,
            diagnostics: None,
        }
    }

    /// Plain cross entropy and logits without auxiliary heads (evaluation).
    pub fn evaluate(&self, batch: ImageBatch) -> StepOutput {
        let logits = self.model.forward(batch.images);
        let loss = cross_entropy(logits.clone(), batch.targets.clone(), 0.0);
        StepOutput {
            objective: loss.clone(),
            loss,
            logits,
            targets: batch.targets,
        }
    }
}

impl TrainStep for Classifier {
    type Input = ImageBatch;
    type Output = StepOutput;

    fn optimize(
        self,
        optim: &mut ModuleOptimizer,
        lr: ModuleLearningRate,
        grads: GradientsParams,
    ) -> Self {
        self.optimize_measured(optim, lr, grads)
    }

    fn step(&self, batch: ImageBatch) -> TrainOutput<StepOutput> {
        // Dropout masks come from the device's generator: seeding it per batch from
        // (seed, epoch, batch) makes them independent of what ran before, so a resumed run
        // draws the masks an uninterrupted run draws.
        if let Some(key) = batch.rng_key {
            batch.images.device().seed(key);
        }
        let targets = batch.targets;
        let (mut logits, aux) = self.model.forward_with_aux(batch.images);
        if self.counter.as_ref().is_some_and(StepCounter::poisoned) {
            logits = logits.mul_scalar(f32::NAN);
        }
        let loss = cross_entropy(logits.clone(), targets.clone(), 0.0);
        let mut objective = if self.label_smoothing > 0.0 {
            cross_entropy(logits.clone(), targets.clone(), self.label_smoothing)
        } else {
            loss.clone()
        };
        for a in aux {
            objective = objective
                + cross_entropy(a, targets.clone(), self.label_smoothing)
                    .mul_scalar(self.aux_weight);
        }
        let grads = objective.clone().mean().backward();
        if let Some(counter) = &self.counter {
            counter.tick();
        }
        TrainOutput::new(
            self,
            grads,
            StepOutput {
                loss: loss.detach(),
                objective: objective.detach(),
                logits: logits.detach(),
                targets,
            },
        )
    }
}

impl Classifier {
    /// The optimizer step, measured by the diagnostics when this step is one they sample: the
    /// model before and after the update and the gradients it applied.
    fn optimize_measured(
        self,
        optim: &mut ModuleOptimizer,
        lr: ModuleLearningRate,
        grads: GradientsParams,
    ) -> Self {
        let due = match (&self.diagnostics, &self.counter) {
            (Some(d), Some(c)) => d.due(c.steps()).map(|step| (d.clone(), step)),
            _ => None,
        };
        let Some((diagnostics, step)) = due else {
            return optim.step(lr, self, grads);
        };
        // The parameters and gradients as they were before the optimizer consumed them.
        let before = diagnostics.before(&self.model, &grads);
        let after = optim.step(lr, self, grads);
        diagnostics.measure(step, before, &after.model);
        after
    }
}

impl InferenceStep for Classifier {
    type Input = ImageBatch;
    type Output = StepOutput;

    fn step(&self, batch: ImageBatch) -> StepOutput {
        self.evaluate(batch)
    }
}
