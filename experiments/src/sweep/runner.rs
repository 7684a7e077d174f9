//! The one way a sweep carries out its jobs, for an ablation suite and for each rung of a
//! search alike: all of them on this machine a few at a time, or as one Slurm job array; each
//! job that ends is handed to the caller as it ends, and Ctrl-C stops them with their last
//! checkpoint kept.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::sweep::executor::{self, Job, JobContext};
use crate::sweep::runstore::{RunState, RunStore};

/// Where a sweep's runs execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutorKind {
    /// This machine, `--jobs` runs at once.
    Local,
    /// One Slurm job array (`sbatch --array`), `--jobs` tasks at once.
    Slurm,
}

impl ExecutorKind {
    /// The name `--executor` takes.
    pub fn name(self) -> &'static str {
        match self {
            ExecutorKind::Local => "local",
            ExecutorKind::Slurm => "slurm",
        }
    }
}

/// An executor and how many runs it keeps going at once; a report's `plan.json` and
/// `summary.md` record it as `local, 4 at once`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Executor {
    pub kind: ExecutorKind,
    /// Local: processes sharing the cores; Slurm: the array's task cap.
    pub jobs: usize,
}

impl fmt::Display for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {} at once", self.kind.name(), self.jobs)
    }
}

/// A text that is no [`Executor`]'s.
#[derive(Debug, Error)]
#[error("`{0}`: expected `<local|slurm>, <n> at once`")]
pub struct UnknownExecutor(pub String);

impl FromStr for Executor {
    type Err = UnknownExecutor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownExecutor(s.to_string());
        let (kind, rest) = s.split_once(", ").ok_or_else(unknown)?;
        let kind = match kind {
            "local" => ExecutorKind::Local,
            "slurm" => ExecutorKind::Slurm,
            _ => return Err(unknown()),
        };
        let jobs = rest
            .strip_suffix(" at once")
            .and_then(|n| n.parse().ok())
            .ok_or_else(unknown)?;
        Ok(Executor { kind, jobs })
    }
}

/// Serialized as its text, as reports have always recorded it.
impl Serialize for Executor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Executor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Stopped by Ctrl-C/SIGTERM (installed once per process).
pub(crate) fn stop_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let _ = ctrlc::set_handler(move || {
            if !f.swap(true, Ordering::SeqCst) {
                eprintln!(
                    "interrupt: the runs stop after their current batch and keep their last checkpoint; start the suite again to resume"
                );
            }
        });
        flag
    })
    .clone()
}

/// A job that ended, for the caller's progress line.
pub struct Ended<'a> {
    pub job: &'a Job,
    pub state: RunState,
    /// How long it ran: local runs only (Slurm tasks are not timed).
    pub seconds: Option<f64>,
    /// Jobs ended so far, this one included.
    pub done: usize,
    /// Jobs handed to this call of [`Runner::run`].
    pub total: usize,
}

/// How a call of [`Runner::run`] came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every job ended, or Ctrl-C stopped them (see [`Runner::stopped`]).
    Ran,
    /// Submitted as this Slurm job, not waited for.
    Submitted(String),
}

/// Carries out a sweep's jobs with one executor, writing into one run store.
pub struct Runner<'a> {
    ctx: JobContext,
    store: &'a RunStore,
    executor: Executor,
    slurm_dir: PathBuf,
    wait: bool,
    stop: Arc<AtomicBool>,
}

impl<'a> Runner<'a> {
    /// A runner of `store`'s jobs; a Slurm array keeps its manifest, task script and task
    /// outputs in `slurm_dir`. Installs the Ctrl-C handler.
    pub fn new(
        ctx: JobContext,
        store: &'a RunStore,
        executor: Executor,
        slurm_dir: PathBuf,
    ) -> Self {
        Self {
            ctx,
            store,
            executor,
            slurm_dir,
            wait: true,
            stop: stop_flag(),
        }
    }

    /// Whether [`run`](Runner::run) waits for a Slurm array to end (it does unless told not
    /// to); local jobs are always waited for.
    pub fn waiting(mut self, wait: bool) -> Self {
        self.wait = wait;
        self
    }

    /// Whether Ctrl-C (or SIGTERM) stopped the runs.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Carries out `jobs`, handing each one that ends to `on_end`; no jobs, nothing done.
    pub fn run(&self, jobs: &[Job], on_end: &mut dyn FnMut(Ended<'_>)) -> Result<Outcome> {
        if jobs.is_empty() {
            return Ok(Outcome::Ran);
        }
        match self.executor.kind {
            ExecutorKind::Local => self.run_local(jobs, on_end),
            ExecutorKind::Slurm => self.run_slurm(jobs, on_end),
        }
    }

    /// Here, `executor.jobs` processes at once.
    fn run_local(&self, jobs: &[Job], on_end: &mut dyn FnMut(Ended<'_>)) -> Result<Outcome> {
        let (total, mut done) = (jobs.len(), 0);
        let at_once = self.executor.jobs;
        executor::run_local(&self.ctx, self.store, jobs, at_once, &self.stop, &mut |f| {
            done += 1;
            on_end(Ended {
                job: f.job,
                state: f.state,
                seconds: Some(f.seconds),
                done,
                total,
            });
        })?;
        Ok(Outcome::Ran)
    }

    /// One array, `executor.jobs` tasks at once; waited for unless told otherwise.
    fn run_slurm(&self, jobs: &[Job], on_end: &mut dyn FnMut(Ended<'_>)) -> Result<Outcome> {
        let cap = self.executor.jobs;
        let array = executor::write_slurm_array(&self.ctx, self.store, jobs, &self.slurm_dir)?;
        let id = executor::submit_slurm(&array, jobs.len(), cap)?;
        println!(
            "submitted Slurm job {id}: {} tasks, {cap} at once; manifest {}",
            jobs.len(),
            array.manifest.display()
        );
        if !self.wait {
            return Ok(Outcome::Submitted(id));
        }
        let (total, mut done) = (jobs.len(), 0);
        executor::wait_slurm(&id, self.store, jobs, &self.stop, &mut |job, state| {
            done += 1;
            on_end(Ended {
                job,
                state,
                seconds: None,
                done,
                total,
            });
        })?;
        Ok(Outcome::Ran)
    }
}
