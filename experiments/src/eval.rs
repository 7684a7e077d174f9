//! Evaluation: plain cross entropy, top-1, top-5 and the confusion matrix of a model on a
//! split, under the one ranking rule of [`crate::metrics`].

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use burn::data::dataloader::DataLoader;
use convlab_models::Model;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, select};
use crate::loader::EpochLoader;
use crate::metrics::{Evaluation, Tally};
use crate::rundir::RunDir;

/// Which split `convlab eval` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    Valid,
    Test,
}

/// Which checkpoint of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CheckpointChoice {
    /// The kept checkpoint with the lowest validation loss.
    Best,
    /// The latest kept checkpoint.
    Last,
}

/// Runs `model` (in eval mode: use a non-autodiff device) over every batch of `loader`.
pub fn evaluate(model: &Model, loader: &EpochLoader, classes: usize) -> Result<Evaluation> {
    let mut tally = Tally::new(classes);
    for batch in loader.iter() {
        let batch = batch.map_err(|e| anyhow!("{e}"))?;
        let logits = model.forward(batch.images);
        let values = logits
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow!("reading logits: {e:?}"))?;
        let targets = batch
            .targets
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .map_err(|e| anyhow!("reading targets: {e:?}"))?;
        tally.add(&values, &targets);
    }
    tally
        .finish()
        .ok_or_else(|| anyhow!("the evaluation split is empty"))
}

/// The epoch of a run's `choice` checkpoint.
pub fn checkpoint_epoch(run: &RunDir, choice: CheckpointChoice) -> Result<usize> {
    match choice {
        CheckpointChoice::Best => run.best_epoch()?,
        CheckpointChoice::Last => run.checkpoint_epochs().last().copied(),
    }
    .ok_or_else(|| anyhow!("{}: no checkpoint found", run.path().display()))
}

/// What `convlab eval` prints.
pub struct RunEvaluation {
    pub epoch: usize,
    pub split: Split,
    pub evaluation: Evaluation,
    pub class_names: Vec<String>,
    pub device: String,
}

/// A run reloaded for evaluation: its recipe, data and a checkpoint's model on a backend.
pub struct LoadedRun {
    pub recipe: crate::recipe::Recipe,
    pub epoch: usize,
    pub selected: crate::backend::Selected,
    pub data: crate::data::RunData,
    pub model: Model,
}

impl LoadedRun {
    /// Reloads a run's recipe, its data (never downloading) and its `checkpoint` model.
    pub fn open(
        run_dir: &Path,
        checkpoint: CheckpointChoice,
        backend: Backend,
        data_dir: Option<&Path>,
    ) -> Result<LoadedRun> {
        let run = RunDir::open(run_dir)?;
        let recipe = run.recipe()?;
        let epoch = checkpoint_epoch(&run, checkpoint)?;
        let selected = select(backend)?;
        let data = crate::data::prepare(&recipe, data_dir, false)?;
        let cfg = crate::model::model_config(&recipe, &data)?;
        let model = crate::model::load(&cfg, &run, epoch, &selected.device)
            .with_context(|| format!("evaluating {}", run.path().display()))?;
        Ok(LoadedRun {
            recipe,
            epoch,
            selected,
            data,
            model,
        })
    }

    /// Batches of a split, in order, at the evaluation batch size.
    pub fn loader(&self, split: Split) -> EpochLoader {
        let batcher = match split {
            Split::Test => self.data.test.clone(),
            Split::Valid => self.data.valid.clone(),
        };
        EpochLoader::new(
            batcher,
            self.recipe.batch_size.max(256),
            None,
            self.selected.device.clone(),
        )
    }
}

/// `convlab eval`: reloads a run's recipe and a checkpoint and evaluates a split.
pub fn evaluate_run(
    run_dir: &Path,
    split: Split,
    checkpoint: CheckpointChoice,
    backend: Backend,
    data_dir: Option<&Path>,
) -> Result<RunEvaluation> {
    let run = LoadedRun::open(run_dir, checkpoint, backend, data_dir)?;
    let evaluation = evaluate(&run.model, &run.loader(split), run.data.class_names.len())?;
    Ok(RunEvaluation {
        epoch: run.epoch,
        split,
        evaluation,
        class_names: run.data.class_names,
        device: run.selected.description,
    })
}
