//! Where a sweep's runs live: `<out>/<suite>/runs/<id>/`, one ordinary run directory per
//! planned run, shared by every invocation of the suite. A run's state is read from its
//! directory; nothing is ever deleted: a run that is started again is set aside first.
//!
//! [`RunState`] is the sweep's one word for where a run stands, from the store's reading of a
//! directory to a report's or a search's verdict; its text is what `results.csv`,
//! `trials.csv`, `summary.md` and the progress lines print.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::record::rundir::{RunDir, RunStatus, write_atomic};

/// Written beside the run files by the executor when `convlab train` fails.
pub const FAILED: &str = "failed.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub exit_code: Option<i32>,
    /// The end of the run's log.
    pub log_tail: String,
    pub at: String,
}

/// Where a run of a sweep stands. The store reads the first five from a run's directory
/// ([`RunStore::state`]); the rest are verdicts a sweep adds: a report's `diverged`, a search's
/// `pending` and `halved`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RunState {
    /// Never started.
    #[default]
    New,
    /// Finished (completed or stopped early): nothing to do.
    Done,
    /// Stopped with a checkpoint to continue from: resume it.
    Interrupted,
    /// Started but stopped before its first checkpoint: start again (set aside first).
    Incomplete,
    /// Failed (an error, or a diverged loss), and why: skipped unless failures are retried.
    Failed(String),
    /// A report's run whose summary says its training loss diverged.
    Diverged,
    /// A search's trial still in the race: not yet judged at its stage's last rung.
    Pending,
    /// A search's trial stopped by successive halving after this epoch.
    Halved(usize),
}

impl RunState {
    /// The state in one word, without its detail (`failed`, not `failed: exit 1: …`): the
    /// status column of `results.csv` and the progress lines; also the suffix of a directory
    /// set aside.
    pub fn label(&self) -> &'static str {
        match self {
            RunState::New => "new",
            RunState::Done => "done",
            RunState::Interrupted => "interrupted",
            RunState::Incomplete => "incomplete",
            RunState::Failed(_) => "failed",
            RunState::Diverged => "diverged",
            RunState::Pending => "pending",
            RunState::Halved(_) => "halved",
        }
    }
}

/// The state with its detail, as `trials.csv` lists a trial: `failed: <why>`,
/// `halved at epoch <n>`, otherwise the [label](RunState::label).
impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunState::Failed(why) if !why.is_empty() => write!(f, "failed: {why}"),
            RunState::Halved(epoch) => write!(f, "halved at epoch {epoch}"),
            other => f.write_str(other.label()),
        }
    }
}

/// A text that is no [`RunState`]'s.
#[derive(Debug, Error)]
#[error("`{0}` is not a run state")]
pub struct UnknownState(pub String);

/// Reads back what [`Display`](fmt::Display) (or [`RunState::label`]) wrote.
impl FromStr for RunState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(why) = s.strip_prefix("failed: ") {
            return Ok(RunState::Failed(why.to_string()));
        }
        if let Some(epoch) = s.strip_prefix("halved at epoch ") {
            return epoch
                .parse()
                .map(RunState::Halved)
                .map_err(|_| UnknownState(s.to_string()));
        }
        Ok(match s {
            "new" => RunState::New,
            "done" => RunState::Done,
            "interrupted" => RunState::Interrupted,
            "incomplete" => RunState::Incomplete,
            "failed" => RunState::Failed(String::new()),
            "diverged" => RunState::Diverged,
            "pending" => RunState::Pending,
            _ => return Err(UnknownState(s.to_string())),
        })
    }
}

/// Serialized as its text, so a state reads in JSON as it does in the CSV files.
impl Serialize for RunState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for RunState {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What a sweep does with a planned run before its executor starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// It finished: nothing to do.
    Skip,
    /// Continue from its last checkpoint.
    Resume,
    /// Start it from its recipe (what an earlier attempt left was set aside).
    Start,
    /// It failed before and failures are not retried: why it failed.
    KeepFailed(String),
}

/// The run directories of one suite or search.
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

    /// What the run's directory shows: new, done, interrupted, incomplete or failed.
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

    /// The run's next step, from its state: an incomplete attempt, or a failed one that is
    /// retried, is set aside first so that the run starts afresh.
    pub fn next_step(&self, id: &str, retry_failed: bool) -> std::io::Result<NextStep> {
        if let Some(writer) = RunDir::writer(&self.dir(id)) {
            // An earlier invocation's run still going: never moved aside or resumed under it.
            return Err(std::io::Error::other(format!(
                "{}: still being written by {writer}; wait for it to end or stop it",
                self.dir(id).display()
            )));
        }
        Ok(match self.state(id) {
            RunState::Done => NextStep::Skip,
            RunState::Interrupted => NextStep::Resume,
            RunState::Failed(why) if !retry_failed => NextStep::KeepFailed(why),
            state => {
                if matches!(state, RunState::Incomplete | RunState::Failed(_)) {
                    self.set_aside(id, state.label())?;
                }
                NextStep::Start
            }
        })
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
