//! Evaluation: loss, top-1, top-5 and the confusion matrix of a model on a split.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use burn::data::dataloader::DataLoader;
use convlab_models::Model;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, select};
use crate::loader::EpochLoader;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub images: usize,
    pub loss: f64,
    /// Accuracies in %.
    pub top1: f64,
    pub top5: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
}

/// Runs `model` (in eval mode: use a non-autodiff device) over every batch of `loader`.
pub fn evaluate(model: &Model, loader: &EpochLoader, classes: usize) -> Result<Evaluation> {
    let k = 5.min(classes);
    let (mut n, mut loss, mut top1, mut top5) = (0usize, 0f64, 0usize, 0usize);
    let mut confusion = vec![vec![0u64; classes]; classes];
    for batch in loader.iter() {
        let batch = batch.map_err(|e| anyhow!("{e}"))?;
        let logits = model.forward(batch.images);
        let [b, c] = logits.dims();
        let values = logits
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow!("{e:?}"))?;
        let targets = batch
            .targets
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .map_err(|e| anyhow!("{e:?}"))?;
        for (row, &t) in values.chunks_exact(c).zip(&targets) {
            let t = t as usize;
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let lse = max
                + row
                    .iter()
                    .map(|&v| (v as f64 - max).exp())
                    .sum::<f64>()
                    .ln();
            loss += lse - row[t] as f64;
            // Rank of the true class: how many logits beat it.
            let rank = row.iter().filter(|&&v| v > row[t]).count();
            top1 += usize::from(rank == 0);
            top5 += usize::from(rank < k);
            let pred = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            confusion[t][pred] += 1;
        }
        n += b;
    }
    if n == 0 {
        bail!("the evaluation split is empty");
    }
    Ok(Evaluation {
        images: n,
        loss: loss / n as f64,
        top1: 100.0 * top1 as f64 / n as f64,
        top5: 100.0 * top5 as f64 / n as f64,
        confusion,
    })
}

/// `convlab eval`: reloads a run's recipe and a checkpoint and evaluates a split.
pub fn evaluate_run(
    run_dir: &Path,
    split: &str,
    checkpoint: &str,
    backend: Backend,
    data_dir: Option<&Path>,
) -> Result<(usize, Evaluation, Vec<String>)> {
    let recipe = crate::train::run_recipe(run_dir)?;
    let epoch = match checkpoint {
        "best" => crate::train::best_epoch(run_dir),
        "last" => crate::train::checkpoint_epochs(run_dir).last().copied(),
        other => bail!("--checkpoint must be best or last, got {other}"),
    }
    .ok_or_else(|| anyhow!("{}: no checkpoint found", run_dir.display()))?;
    let selected = select(backend)?;
    println!(
        "evaluating epoch {epoch} on {} ({split})",
        selected.description
    );
    let data = crate::data::prepare(&recipe, data_dir, false)?;
    let cfg = crate::train::model_config(&recipe, &data)?;
    let model = crate::train::load_model(&cfg, run_dir, epoch, &selected.device)?;
    let batcher = match split {
        "test" => data.test.clone(),
        "valid" => data.valid.clone(),
        other => bail!("--split must be test or valid, got {other}"),
    };
    let loader = EpochLoader::new(
        batcher,
        recipe.batch_size.max(256),
        None,
        selected.device.clone(),
    );
    Ok((
        epoch,
        evaluate(&model, &loader, data.class_names.len())?,
        data.class_names,
    ))
}

/// The confusion matrix as a text table (rows: true class, columns: predicted).
pub fn render_confusion(e: &Evaluation, names: &[String]) -> String {
    let width = e
        .confusion
        .iter()
        .flatten()
        .map(|v| v.to_string().len())
        .max()
        .unwrap_or(1)
        .max(3);
    let label_w = names.iter().map(|n| n.len()).max().unwrap_or(5).min(14);
    let mut out = format!("{:>label_w$}  ", "true\\pred");
    for j in 0..e.confusion.len() {
        out.push_str(&format!("{j:>width$} "));
    }
    out.push('\n');
    for (i, row) in e.confusion.iter().enumerate() {
        let name: String = names
            .get(i)
            .map_or(i.to_string(), |n| n.chars().take(label_w).collect());
        out.push_str(&format!("{name:>label_w$}  "));
        for v in row {
            out.push_str(&format!("{v:>width$} "));
        }
        out.push('\n');
    }
    out
}
