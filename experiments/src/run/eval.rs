//! Evaluation: plain cross entropy, top-1, top-5 and the confusion matrix of a model on a
//! split, under the one ranking rule of [`crate::base::metrics`].

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use burn::data::dataloader::DataLoader;
use convlab_models::Model;
use serde::{Deserialize, Serialize};

use crate::base::backend::{Backend, select};
use crate::base::loader::EpochLoader;
use crate::base::metrics::{Evaluation, Tally};
use crate::record::rundir::RunDir;

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

/// Runs `model` over every batch of `loader`, handing each batch's logits (`[N, classes]`
/// row-major, passed through `head`) and targets to `each`.
fn each_batch(
    model: &Model,
    loader: &EpochLoader,
    head: impl Fn(burn::tensor::Tensor<2>) -> burn::tensor::Tensor<2>,
    mut each: impl FnMut(&[f32], &[i64]),
) -> Result<()> {
    for batch in loader.iter() {
        let batch = batch.map_err(|e| anyhow!("{e}"))?;
        let values = head(model.forward(batch.images))
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
        each(&values, &targets);
    }
    Ok(())
}

/// Runs `model` (in eval mode: use a non-autodiff device) over every batch of `loader`.
pub fn evaluate(model: &Model, loader: &EpochLoader, classes: usize) -> Result<Evaluation> {
    let mut tally = Tally::new(classes);
    each_batch(
        model,
        loader,
        |l| l,
        |values, targets| tally.add(values, targets),
    )?;
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
    pub recipe: crate::config::recipe::Recipe,
    pub epoch: usize,
    pub selected: crate::base::backend::Selected,
    pub data: crate::run::data::RunData,
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
        let data = crate::run::data::prepare(&recipe, data_dir, false)?;
        let cfg = crate::run::model::config_for_data(&recipe, &data)?;
        let model = crate::run::model::load(&cfg, &run, epoch, &selected.device)
            .with_context(|| format!("evaluating {}", run.path().display()))?;
        Ok(LoadedRun {
            recipe,
            epoch,
            selected,
            data,
            model,
        })
    }

    /// A split's batcher (its images, without augmentation).
    pub fn batcher(&self, split: Split) -> &std::sync::Arc<convlab_datasets::ImageBatcher> {
        match split {
            Split::Test => &self.data.test,
            Split::Valid => &self.data.valid,
        }
    }

    /// Batches of a split, in order, at the evaluation batch size.
    pub fn loader(&self, split: Split) -> EpochLoader {
        EpochLoader::new(
            self.batcher(split).clone(),
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

/// A wrong prediction and its confidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mistake {
    /// The image's index in the split.
    pub index: usize,
    pub target: usize,
    pub predicted: usize,
    /// The softmax probability of the predicted class.
    pub confidence: f32,
}

/// The `n` wrong predictions of `model` on `loader` made with the highest confidence (ties to
/// the lower index).
pub fn most_confident_mistakes(
    model: &Model,
    loader: &EpochLoader,
    classes: usize,
    n: usize,
) -> Result<Vec<Mistake>> {
    let mut all = vec![];
    let mut index = 0;
    let softmax = |l| burn::tensor::activation::softmax(l, 1);
    each_batch(model, loader, softmax, |probs, targets| {
        for (row, &t) in probs.chunks_exact(classes).zip(targets) {
            if let Some(p) = crate::base::metrics::predicted(row)
                && p as i64 != t
            {
                all.push(Mistake {
                    index,
                    target: t as usize,
                    predicted: p,
                    confidence: row[p],
                });
            }
            index += 1;
        }
    })?;
    all.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(a.index.cmp(&b.index))
    });
    all.truncate(n);
    Ok(all)
}

/// `convlab eval --misclassified N`: the split's `n` most confident mistakes as a captioned
/// grid (prediction and confidence in red, the true class below) in `picture`.
pub fn misclassified_picture(
    run_dir: &Path,
    split: Split,
    checkpoint: CheckpointChoice,
    backend: Backend,
    data_dir: Option<&Path>,
    n: usize,
    picture: &Path,
) -> Result<Vec<Mistake>> {
    let run = LoadedRun::open(run_dir, checkpoint, backend, data_dir)?;
    let names = &run.data.class_names;
    let mistakes = most_confident_mistakes(&run.model, &run.loader(split), names.len(), n)?;
    let set = run.batcher(split).set();
    let [_, h, _] = set.shape();
    let scale = (96 / h.max(1)).max(1) as u32;
    let name = |k: usize| names.get(k).cloned().unwrap_or_else(|| k.to_string());
    let tiles: Vec<(image::RgbImage, [String; 2])> = mistakes
        .iter()
        .map(|m| {
            (
                crate::record::pictures::set_image(set, m.index, scale),
                [
                    format!("{} {:.1}%", name(m.predicted), 100.0 * m.confidence),
                    format!("true: {} (#{})", name(m.target), m.index),
                ],
            )
        })
        .collect();
    let title = format!(
        "{}: the {} most confident mistakes on the {} split (epoch {})",
        run.recipe.name,
        mistakes.len(),
        match split {
            Split::Test => "test",
            Split::Valid => "validation",
        },
        run.epoch
    );
    crate::record::pictures::captioned_grid(picture, &title, &tiles, 8)?;
    Ok(mistakes)
}
