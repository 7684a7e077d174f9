//! Checkpoints: burn-train's three records (model, optimizer, scheduler) per epoch, written
//! atomically with a checksum sidecar (burn-train's own file checkpointer writes in place, so a
//! process killed while saving leaves a torn file), and checked before a resume hands them to
//! burn-train (which panics on an unreadable one), together with the history they continue.

use std::path::PathBuf;

use burn::module::Module;
use burn::optim::lr_scheduler::LrSchedulerRecord;
use burn::optim::record::OptimizerRecord;
use burn::store::ModuleRecord;
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError};
use thiserror::Error;

use crate::record::rundir::{EpochRow, RunDir};
use crate::run::classifier::Classifier;

/// Saves each record to `<dir>/<name>-<epoch>.bpk` through a temporary file and a rename.
pub struct AtomicCheckpointer {
    run: RunDir,
    name: &'static str,
}

impl AtomicCheckpointer {
    pub fn new(run: &RunDir, name: &'static str) -> Self {
        Self {
            run: run.clone(),
            name,
        }
    }

    fn path(&self, epoch: usize) -> PathBuf {
        self.run.checkpoint_file(self.name, epoch)
    }
}

impl<R: Checkpoint> Checkpointer<R> for AtomicCheckpointer {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        let bytes = record
            .checkpoint_into_bytes()
            .map_err(CheckpointerError::Record)?;
        std::fs::create_dir_all(self.run.checkpoint_dir()).map_err(CheckpointerError::IOError)?;
        crate::record::checksum::write(&self.path(epoch), &bytes)
            .map_err(|e| CheckpointerError::IOError(std::io::Error::other(e.to_string())))
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        R::load(self.path(epoch))
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        crate::record::checksum::remove(&self.path(epoch)).map_err(CheckpointerError::IOError)
    }
}

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("{}: no complete checkpoint to resume from (the first epoch did not finish)", .0.display())]
    None(PathBuf),
    #[error(
        "{}: unreadable checkpoint ({reason}); {}",
        path.display(),
        match readable {
            Some(e) => format!(
                "epoch {e} is readable: resume from it with `convlab train --resume {} --from-epoch {e}`",
                run.display()
            ),
            None => "no earlier epoch is readable either".to_string(),
        }
    )]
    Unreadable {
        path: PathBuf,
        reason: String,
        run: PathBuf,
        readable: Option<usize>,
    },
    #[error("{}: no complete checkpoint of epoch {epoch}; complete ones: {available:?}", run.display())]
    NoSuchEpoch {
        run: PathBuf,
        epoch: usize,
        available: Vec<usize>,
    },
}

/// Verifies the three records of `epoch` against their checksums, reads them and applies the
/// model record to `template`; the first file that fails is named with the reason.
fn check_epoch(run: &RunDir, epoch: usize, template: &Classifier) -> Result<(), (PathBuf, String)> {
    let attempt = |kind: &'static str| -> Result<(), String> {
        let path = run.checkpoint_file(kind, epoch);
        crate::record::checksum::verify(&path).map_err(|e| e.to_string())?;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match kind {
            "model" => ModuleRecord::load(&path)
                .map_err(|e| e.to_string())
                .and_then(|r| {
                    template
                        .clone()
                        .try_load_record(r)
                        .map(|_| ())
                        .map_err(|e| format!("does not fit the model: {e}"))
                }),
            "optim" => OptimizerRecord::load(&path)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            _ => LrSchedulerRecord::load(&path)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }));
        match outcome {
            Ok(r) => r,
            Err(_) => Err("reading it panicked".into()),
        }
    };
    for kind in ["model", "optim", "scheduler"] {
        attempt(kind).map_err(|reason| (run.checkpoint_file(kind, epoch), reason))?;
    }
    Ok(())
}

/// The epoch to resume from: `wanted`, or the last complete checkpoint, after checking that
/// its files are readable and fit the model.
pub fn resumable_epoch(
    run: &RunDir,
    wanted: Option<usize>,
    template: &Classifier,
) -> Result<usize, CheckpointError> {
    let complete = run.complete_checkpoints();
    let epoch = match wanted {
        Some(e) if complete.contains(&e) => e,
        Some(e) => {
            return Err(CheckpointError::NoSuchEpoch {
                run: run.path().to_path_buf(),
                epoch: e,
                available: complete,
            });
        }
        None => *complete
            .last()
            .ok_or_else(|| CheckpointError::None(run.path().to_path_buf()))?,
    };
    check_epoch(run, epoch, template).map_err(|(path, reason)| {
        let readable = complete
            .iter()
            .rev()
            .copied()
            .filter(|&e| e < epoch)
            .find(|&e| check_epoch(run, e, template).is_ok());
        CheckpointError::Unreadable {
            path,
            reason,
            run: run.path().to_path_buf(),
            readable,
        }
    })?;
    Ok(epoch)
}

/// A resume continues a history, never rewrites one: `metrics.csv` must hold exactly one row
/// for each epoch up to the checkpoint it resumes from (a run whose rows were lost would
/// otherwise end with a summary that forgets its best epochs).
pub fn check_history(run: &RunDir, rows: &[EpochRow], epoch: usize) -> anyhow::Result<()> {
    let have: Vec<usize> = rows.iter().map(|r| r.epoch).collect();
    let want: Vec<usize> = (1..=epoch).collect();
    if have != want {
        let missing: Vec<usize> = want.iter().copied().filter(|e| !have.contains(e)).collect();
        // The last checkpoint whose history is whole, if any.
        let whole = have.iter().zip(1..).take_while(|(h, k)| **h == *k).count();
        let offer = run
            .complete_checkpoints()
            .into_iter()
            .rev()
            .find(|&k| k <= whole)
            .map_or(String::new(), |k| {
                format!(
                    "; epoch {k}'s history is whole: convlab train --resume {} --from-epoch {k}",
                    run.path().display()
                )
            });
        anyhow::bail!(
            "{}: the checkpoint is epoch {epoch} but the file has rows for epochs {have:?} (missing {missing:?}); resuming would rewrite the run's history, so it is refused{offer}",
            run.file(crate::record::rundir::METRICS).display()
        );
    }
    Ok(())
}

/// Temporary files of atomic writes that a killed process left behind (`.tmp-*` and pictures'
/// `*.tmp.png`, in the run directory and its checkpoints), removed under the run's lock: nobody
/// else is writing them.
pub fn remove_leftovers(run: &RunDir) {
    for dir in [run.path().to_path_buf(), run.checkpoint_dir()] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if (name.starts_with(".tmp-") || name.ends_with(".tmp.png"))
                && let Err(e) = std::fs::remove_file(entry.path())
            {
                eprintln!("warning: {} not removed: {e}", entry.path().display());
            }
        }
    }
}
