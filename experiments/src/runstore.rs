//! Where a suite's runs live: `<out>/<suite>/runs/<id>/`, one ordinary run directory per
//! planned run, shared by every invocation of the suite. A run's state is read from its
//! directory; nothing is ever deleted: a run that is started again is set aside first.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::rundir::{RunDir, RunStatus, write_atomic};

/// Written beside the run files by the executor when `convlab train` fails.
pub const FAILED: &str = "failed.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub exit_code: Option<i32>,
    /// The end of the run's log.
    pub log_tail: String,
    pub at: String,
}

/// What a planned run needs next.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// Never started.
    New,
    /// Finished (completed or stopped early): nothing to do.
    Done,
    /// Stopped with a checkpoint to continue from: resume it.
    Interrupted,
    /// Started but stopped before its first checkpoint: start again (set aside first).
    Incomplete,
    /// Failed (an error, or a diverged loss): skipped unless failures are retried.
    Failed(String),
}

impl RunState {
    pub fn label(&self) -> &'static str {
        match self {
            RunState::New => "new",
            RunState::Done => "done",
            RunState::Interrupted => "interrupted",
            RunState::Incomplete => "incomplete",
            RunState::Failed(_) => "failed",
        }
    }
}

pub struct RunStore {
    root: PathBuf,
}

impl RunStore {
    /// `<out>/<suite>/runs`.
    pub fn new(out: &Path, suite: &str) -> Self {
        Self {
            root: out.join(suite).join("runs"),
        }
    }

    /// A store at an explicit path (a report's `plan.json` records it).
    pub fn at(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// The run's log (every attempt appended).
    pub fn log(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}.log"))
    }

    pub fn state(&self, id: &str) -> RunState {
        let dir = self.dir(id);
        if !dir.exists() {
            return RunState::New;
        }
        if let Ok(text) = std::fs::read_to_string(dir.join(FAILED)) {
            let why = serde_json::from_str::<Failure>(&text)
                .map(|f| {
                    let last = f.log_tail.lines().rev().find(|l| !l.trim().is_empty());
                    format!(
                        "exit {}: {}",
                        f.exit_code.map_or("?".into(), |c| c.to_string()),
                        last.unwrap_or("").trim()
                    )
                })
                .unwrap_or_else(|_| "failed".into());
            return RunState::Failed(why);
        }
        let run = match RunDir::open(&dir) {
            Ok(r) => r,
            Err(_) => return RunState::Incomplete,
        };
        match run.summary().map(|s| s.status) {
            Ok(RunStatus::Completed | RunStatus::EarlyStopped) => RunState::Done,
            Ok(RunStatus::Diverged) => RunState::Failed("the training loss diverged".into()),
            Ok(RunStatus::Interrupted) | Err(_) => {
                if run.last_checkpoint().is_some() {
                    RunState::Interrupted
                } else {
                    RunState::Incomplete
                }
            }
        }
    }

    /// Moves a run directory out of the way (`<id>.<why>-<k>`), so it can start again while
    /// what it had is kept.
    pub fn set_aside(&self, id: &str, why: &str) -> std::io::Result<PathBuf> {
        let dir = self.dir(id);
        for k in 1..10_000 {
            let target = self.root.join(format!("{id}.{why}-{k}"));
            if !target.exists() {
                std::fs::rename(&dir, &target)?;
                return Ok(target);
            }
        }
        Err(std::io::Error::other(format!(
            "no free name to set {} aside",
            dir.display()
        )))
    }

    /// Records a failed attempt in the run's directory (created if the run never got that far).
    pub fn record_failure(&self, id: &str, exit_code: Option<i32>) -> std::io::Result<()> {
        let dir = self.dir(id);
        std::fs::create_dir_all(&dir)?;
        let log = std::fs::read_to_string(self.log(id)).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let failure = Failure {
            exit_code,
            log_tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            at: chrono::Local::now().to_rfc3339(),
        };
        let text = serde_json::to_string_pretty(&failure).map_err(std::io::Error::other)?;
        write_atomic(&dir.join(FAILED), text.as_bytes()).map_err(std::io::Error::other)
    }
}
