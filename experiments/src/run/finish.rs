//! The last stage of a run: how it ended (completed, stopped early, paused or interrupted,
//! diverged), the best checkpoint on the test split when it finished, the summary, the report
//! page and the closing lines on the terminal.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use burn::train::LearningResult;
use convlab_models::ModelConfig;

use crate::base::loader::EpochLoader;
use crate::base::metrics::Evaluation;
use crate::config::recipe::Recipe;
use crate::record::renderer::SharedProgress;
use crate::record::rundir::{EpochRow, RunDir, RunInfo, RunStatus, RunSummary};
use crate::run::classifier::Classifier;
use crate::run::data::RunData;
use crate::run::eval::evaluate;

/// A picture that could not be drawn is a warning, never the end of a run.
pub fn picture(name: &str, result: Result<()>) {
    if let Err(e) = result {
        eprintln!("warning: {name} not drawn: {e:#}");
    }
}

/// How training ended, from burn-train's result and the renderer's record of the epochs.
pub struct Ending {
    pub status: RunStatus,
    pub rows: Vec<EpochRow>,
    /// The non-finite training loss that stopped the run.
    pub diverged: Option<f64>,
    /// The epoch after which early stopping ended the run.
    pub early_stopped: Option<usize>,
}

impl Ending {
    /// A training error or an unwritable `metrics.csv` is an error; otherwise the status: a
    /// non-finite loss is `Diverged`; a stop by signal or a pause (`--until-epoch`) that early
    /// stopping did not pre-empt is `Interrupted`; then `EarlyStopped` or `Completed`.
    pub fn of(
        run: &RunDir,
        result: &LearningResult<Classifier>,
        progress: &SharedProgress,
        paused: bool,
    ) -> Result<Ending> {
        if let Some(e) = &result.error {
            let resume = match run.last_checkpoint() {
                Some(epoch) => format!(
                    "the last complete checkpoint is epoch {epoch}; once the cause is fixed: convlab train --resume {}",
                    run.path().display()
                ),
                None => "no epoch was checkpointed".to_string(),
            };
            bail!("training stopped: {e}; {resume}");
        }
        let p = progress.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = &p.write_error {
            bail!("{}: stopped: {e}", run.path().display());
        }
        let status = if p.diverged.is_some() {
            RunStatus::Diverged
        } else if result.interrupted.is_some() || (paused && p.early_stopped.is_none()) {
            RunStatus::Interrupted
        } else if p.early_stopped.is_some() {
            RunStatus::EarlyStopped
        } else {
            RunStatus::Completed
        };
        Ok(Ending {
            status,
            rows: p.rows.clone(),
            diverged: p.diverged,
            early_stopped: p.early_stopped,
        })
    }
}

/// The best checkpoint of a finished run on the test split, with the best epoch's filters and
/// the test confusion matrix drawn into the run directory.
pub fn evaluate_test(
    run: &RunDir,
    recipe: &Recipe,
    data: &RunData,
    cfg: &ModelConfig,
    epoch: usize,
    device: &Device,
) -> Result<Evaluation> {
    let model = crate::run::model::load(cfg, run, epoch, device)?;
    let loader = EpochLoader::new(
        data.test.clone(),
        recipe.batch_size.max(256),
        None,
        device.clone(),
    );
    let evaluation = evaluate(&model, &loader, data.class_names.len())
        .with_context(|| format!("test evaluation of epoch {epoch}"))?;
    picture(
        "filters-best.png",
        crate::record::pictures::filters(&run.file("filters-best.png"), &model).map(|_| ()),
    );
    picture(
        "confusion.png",
        crate::record::pictures::confusion(
            &run.file("confusion.png"),
            &format!("{}: test confusion (epoch {epoch})", recipe.name),
            &evaluation.confusion,
            &data.class_names,
        ),
    );
    Ok(evaluation)
}

/// Checkpoints an earlier session left that burn-train's strategy of this session never tracked
/// (the epoch a run paused or was interrupted at): removed once a resumed run has finished, so
/// that it keeps what an uninterrupted run keeps, the last two epochs and the one with the
/// lowest validation loss. A file that cannot be removed is a warning.
pub fn prune_stale(run: &RunDir, rows: &[EpochRow]) {
    let complete = run.complete_checkpoints();
    let mut keep: Vec<usize> = complete.iter().rev().take(2).copied().collect();
    if let Some(best) = rows
        .iter()
        .filter(|r| r.valid_loss.is_finite())
        .min_by(|a, b| a.valid_loss.total_cmp(&b.valid_loss))
    {
        keep.push(best.epoch);
    }
    for epoch in run
        .checkpoint_epochs()
        .into_iter()
        .filter(|e| !keep.contains(e))
    {
        for kind in ["model", "optim", "scheduler"] {
            let path = run.checkpoint_file(kind, epoch);
            if let Err(e) = crate::record::checksum::remove(&path) {
                eprintln!("warning: {} not removed: {e}", path.display());
            }
        }
    }
}

/// What the summary needs besides the ending and the test evaluation.
pub struct Facts<'a> {
    pub recipe: &'a Recipe,
    pub selected: &'a crate::base::backend::Selected,
    pub parameters: u64,
    /// When this process began the run.
    pub started: Instant,
    /// Seconds of training before this process (a resumed run: the epochs it resumes after).
    pub before_s: f64,
}

/// The run's summary: status, epochs, best and final validation accuracy, test metrics, wall
/// time, mean images/s over the epochs that measured it, backend and provenance.
pub fn summary(
    ending: &Ending,
    best: Option<usize>,
    test: Option<Evaluation>,
    facts: Facts<'_>,
) -> RunSummary {
    let rows = &ending.rows;
    let last = rows.last();
    let rates: Vec<f64> = rows
        .iter()
        .map(|r| r.images_per_s)
        .filter(|v| *v > 0.0)
        .collect();
    RunSummary {
        recipe: facts.recipe.name.clone(),
        status: ending.status,
        epochs: last.map_or(0, |r| r.epoch),
        best_epoch: best,
        best_valid_acc: best
            .and_then(|b| rows.iter().find(|r| r.epoch == b))
            .map(|r| r.valid_acc),
        final_valid_acc: last.map(|r| r.valid_acc),
        final_valid_loss: last.map(|r| r.valid_loss),
        test,
        wall_time_s: facts.before_s + facts.started.elapsed().as_secs_f64(),
        images_per_s: if rates.is_empty() {
            0.0
        } else {
            rates.iter().sum::<f64>() / rates.len() as f64
        },
        parameters: facts.parameters,
        backend: facts.selected.backend.name().to_string(),
        device: facts.selected.description.clone(),
        seed: facts.recipe.seed,
        binary: RunInfo::binary(),
    }
}

/// The summary and the report page into the run directory (a page that cannot be written is a
/// warning).
pub fn write(run: &RunDir, summary: &RunSummary) -> Result<()> {
    run.write_summary(summary)?;
    let page = run.file(crate::record::page::FILE);
    picture(
        crate::record::page::FILE,
        crate::record::page::write(run.path(), &page),
    );
    Ok(())
}

/// The closing lines: the test result, or how to resume, or where the last good checkpoint is.
pub fn report(run: &RunDir, recipe: &Recipe, summary: &RunSummary, ending: &Ending) {
    let dir = run.path().display();
    match summary.status {
        RunStatus::Diverged => eprintln!(
            "stopped: the training loss became {}; the last good checkpoint is epoch {} in {}",
            ending.diverged.unwrap_or(f64::NAN),
            run.last_checkpoint()
                .map_or("none".into(), |e| e.to_string()),
            run.checkpoint_dir().display()
        ),
        RunStatus::Interrupted => match (summary.epochs, recipe.epochs) {
            (done, all) if done < all && ending.early_stopped.is_none() && summary.epochs > 0 => {
                eprintln!(
                    "paused after epoch {done} of {all}; continue with: convlab train --resume {dir}"
                )
            }
            _ => eprintln!("interrupted; resume with: convlab train --resume {dir}"),
        },
        RunStatus::Completed | RunStatus::EarlyStopped => {
            if let Some(e) = ending.early_stopped {
                println!(
                    "early stopping after epoch {e}: no better validation loss for {} epochs",
                    recipe.train.early_stopping_patience.unwrap_or(0)
                );
            }
            if let Some(t) = &summary.test {
                // Top-5 of fewer than five classes is always 100 %: not worth a number.
                let top5 = if t.confusion.len() >= 5 {
                    format!(" top-5 {:.2}%", t.top5)
                } else {
                    String::new()
                };
                println!(
                    "done: best epoch {} (valid acc {:.2}%), test loss {:.4} top-1 {:.2}%{top5}, {:.0}s",
                    summary.best_epoch.unwrap_or(0),
                    summary.best_valid_acc.unwrap_or(f64::NAN),
                    t.loss,
                    t.top1,
                    summary.wall_time_s
                );
            }
        }
    }
}
