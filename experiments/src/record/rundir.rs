//! A run directory: `recipe.toml` (the resolved recipe), `run.json` (how the run is carried
//! out: backend, device, overfit batches, the binary that started it), `metrics.csv` (one row
//! per epoch), `checkpoint/{model,optim,scheduler}-<epoch>.bpk` and `summary.json`. Train,
//! resume, eval, ablations, searches and ensembles all read and write runs through this
//! module. Every file is written to a temporary name and renamed into place, so a crash never
//! leaves a torn file; write errors are errors.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::base::metrics::Evaluation;
pub use crate::config::load::plain_name;
use crate::config::recipe::{Recipe, RecipeError};

pub const RECIPE: &str = "recipe.toml";
pub const INFO: &str = "run.json";
pub const METRICS: &str = "metrics.csv";
pub const SUMMARY: &str = "summary.json";
pub const CHECKPOINTS: &str = "checkpoint";
/// The advisory lock (`flock`) that the process writing a run holds, with its pid inside.
pub const LOCK: &str = ".lock";

#[derive(Debug, Error)]
pub enum RunDirError {
    #[error("{}: not a run directory (no {RECIPE})", .0.display())]
    NotARun(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    #[error("no free run directory name under {}", .0.display())]
    NoFreeName(PathBuf),
    #[error("run name `{0}`: expected one plain name (letters, digits, `-`, `_`, `.`), no path")]
    BadName(String),
    #[error(
        "{}: in use by another convlab process ({holder}); wait for it to end or stop it",
        path.display()
    )]
    Busy { path: PathBuf, holder: String },
}

type Result<T, E = RunDirError> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunDirError + '_ {
    move |source| RunDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A run's write lock, held while it lives (see [`RunDir::lock`]).
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

/// `pid N` as the holder wrote it into the lock file (`pid unknown` before it has).
fn holder_text(path: &Path) -> String {
    match std::fs::read_to_string(path).map(|s| s.trim().to_string()) {
        Ok(pid) if !pid.is_empty() => format!("pid {pid}"),
        _ => "pid unknown".into(),
    }
}

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk and renames it into
/// place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    // The permissions of an ordinary new file (0666 less the umask), not tempfile's private
    // 0600: run files and reports are read by others on a shared (Slurm) filesystem.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(io(dir))?;
    tmp.write_all(bytes).map_err(io(path))?;
    tmp.as_file().sync_all().map_err(io(path))?;
    tmp.persist(path).map_err(|e| RunDirError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// The rows of a CSV file with a header (none when the file does not exist yet).
pub fn read_rows<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let format = |e: csv::Error| RunDirError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    csv::Reader::from_path(path)
        .map_err(format)?
        .deserialize()
        .collect::<Result<Vec<T>, _>>()
        .map_err(format)
}

/// Rewrites a CSV file with `rows` atomically; `header` is written when there are no rows.
pub fn write_rows<T: Serialize>(path: &Path, rows: &[T], header: Option<&[&str]>) -> Result<()> {
    let format = |message: String| RunDirError::Format {
        path: path.to_path_buf(),
        message,
    };
    let mut w = csv::Writer::from_writer(vec![]);
    if let (true, Some(h)) = (rows.is_empty(), header) {
        w.write_record(h).map_err(|e| format(e.to_string()))?;
    }
    for r in rows {
        w.serialize(r).map_err(|e| format(e.to_string()))?;
    }
    let bytes = w.into_inner().map_err(|e| format(e.to_string()))?;
    write_atomic(path, &bytes)
}

/// The git commit of the source the binary was built from (`+dirty` when the tree had
/// uncommitted changes), recorded at build time.
pub fn build_commit() -> Option<String> {
    option_env!("CONVLAB_GIT_COMMIT").map(|c| match option_env!("CONVLAB_GIT_DIRTY") {
        Some("1") => format!("{c}+dirty"),
        _ => c.to_string(),
    })
}

/// How a run is carried out, fixed when it starts (`run.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The recipe's name (`lenet-fashion`, or `<suite>-<variant>` for a suite's run).
    #[serde(default)]
    pub recipe: String,
    /// The backend the run was started on (`flex`, `ndarray`, `wgpu`); a resumed run uses it.
    pub backend: String,
    pub device: String,
    /// On wgpu: adapter, graphics API, driver and shader compiler (SPIR-V or WGSL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<crate::base::backend::GpuInfo>,
    /// `--overfit-batches K`: K fixed batches, no augmentation or regularisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overfit_batches: Option<usize>,
    /// The binary that started the run: `convlab <version> (<commit>[+dirty])`.
    pub started_by: String,
    pub started_at: String,
}

impl RunInfo {
    pub fn binary() -> String {
        format!(
            "convlab {} ({})",
            env!("CARGO_PKG_VERSION"),
            build_commit().unwrap_or_else(|| "commit unknown".into())
        )
    }
}

/// One epoch's numbers (accuracies in %; losses are plain cross entropy, the objective adds
/// label smoothing and auxiliary losses).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_objective: f64,
    pub train_acc: f64,
    pub train_top5: f64,
    pub valid_loss: f64,
    pub valid_acc: f64,
    pub valid_top5: f64,
    pub lr: f64,
    pub images_per_s: f64,
    pub epoch_s: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    Completed,
    EarlyStopped,
    Interrupted,
    Diverged,
}

/// `summary.json` of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub recipe: String,
    pub status: RunStatus,
    pub epochs: usize,
    pub best_epoch: Option<usize>,
    pub best_valid_acc: Option<f64>,
    pub final_valid_acc: Option<f64>,
    pub final_valid_loss: Option<f64>,
    /// The best checkpoint on the test split (completed and early-stopped runs).
    pub test: Option<Evaluation>,
    /// Seconds the run took: this process's, plus the epochs it resumed after (the part of an
    /// interrupted epoch that was trained again is not counted twice).
    pub wall_time_s: f64,
    pub images_per_s: f64,
    pub parameters: u64,
    pub backend: String,
    pub device: String,
    pub seed: u64,
    /// The binary that wrote this summary (see [`RunInfo::started_by`] for the one that began).
    pub binary: String,
}

/// A run directory on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// `<out>/<recipe>/<YYYYmmdd-HHMMSS>` (with a numeric suffix if taken): never overwrites.
    /// The recipe's name must be one plain name ([`plain_name`]): a run stays under `out`.
    pub fn create(out: &Path, recipe: &str) -> Result<RunDir> {
        if !plain_name(recipe) {
            return Err(RunDirError::BadName(recipe.to_string()));
        }
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
        Self::create_named(&out.join(recipe), &stamp)
    }

    /// `<parent>/<name>` (or `<name>-1`, `<name>-2`, … if taken).
    pub fn create_named(parent: &Path, name: &str) -> Result<RunDir> {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        for k in 0..1000 {
            let candidate = if k == 0 {
                name.to_string()
            } else {
                format!("{name}-{k}")
            };
            let dir = parent.join(candidate);
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(RunDir { path: dir }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(&dir)(e)),
            }
        }
        Err(RunDirError::NoFreeName(parent.to_path_buf()))
    }

    /// Exactly `path`, which must not exist yet (a suite's run directory).
    pub fn create_at(path: &Path) -> Result<RunDir> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::create_dir(path).map_err(io(path))?;
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    /// An existing run (it must hold a `recipe.toml`).
    pub fn open(path: &Path) -> Result<RunDir> {
        if !path.join(RECIPE).is_file() {
            return Err(RunDirError::NotARun(path.to_path_buf()));
        }
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    /// Takes the run's write lock (an advisory `flock` on `.lock`, released when the
    /// [`RunLock`] drops or the process ends, kill -9 included). Another process holding it is
    /// an error naming its pid.
    pub fn lock(&self) -> Result<RunLock> {
        let path = self.file(LOCK);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0).map_err(io(&path))?;
                write!(file, "{}", std::process::id()).map_err(io(&path))?;
                Ok(RunLock { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(RunDirError::Busy {
                path: self.path.clone(),
                holder: holder_text(&path),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(io(&path)(e)),
        }
    }

    /// The process writing the run in `dir` right now, if any (`pid N`).
    pub fn writer(dir: &Path) -> Option<String> {
        let path = dir.join(LOCK);
        let file = std::fs::File::open(&path).ok()?;
        match file.try_lock_shared() {
            Ok(()) => None,
            Err(_) => Some(holder_text(&path)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The recipe's name: from `run.json`, else the run's parent folder
    /// (`runs/<recipe>/<stamp>`).
    pub fn recipe_name(&self) -> String {
        if let Ok(info) = self.info()
            && !info.recipe.is_empty()
        {
            return info.recipe;
        }
        self.path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn recipe(&self) -> Result<Recipe> {
        let path = self.file(RECIPE);
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        Ok(Recipe::from_toml(&self.recipe_name(), &text)?)
    }

    pub fn write_recipe(&self, recipe: &Recipe) -> Result<()> {
        write_atomic(&self.file(RECIPE), recipe.to_toml().as_bytes())
    }

    pub fn info(&self) -> Result<RunInfo> {
        read_json(&self.file(INFO))
    }

    pub fn write_info(&self, info: &RunInfo) -> Result<()> {
        write_json(&self.file(INFO), info)
    }

    /// The rows of `metrics.csv` (none when the file does not exist yet).
    pub fn metrics(&self) -> Result<Vec<EpochRow>> {
        read_rows(&self.file(METRICS))
    }

    /// Rewrites `metrics.csv` with `rows` (atomically: the old file stays whole until the new
    /// one replaces it).
    pub fn write_metrics(&self, rows: &[EpochRow]) -> Result<()> {
        write_rows(&self.file(METRICS), rows, Some(&EPOCH_COLUMNS))
    }

    pub fn summary(&self) -> Result<RunSummary> {
        read_json(&self.file(SUMMARY))
    }

    pub fn write_summary(&self, summary: &RunSummary) -> Result<()> {
        write_json(&self.file(SUMMARY), summary)
    }

    pub fn checkpoint_dir(&self) -> PathBuf {
        self.path.join(CHECKPOINTS)
    }

    pub fn checkpoint_file(&self, kind: &str, epoch: usize) -> PathBuf {
        self.checkpoint_dir().join(format!("{kind}-{epoch}.bpk"))
    }

    /// Epochs whose model checkpoint exists, ascending.
    pub fn checkpoint_epochs(&self) -> Vec<usize> {
        let mut v: Vec<usize> = std::fs::read_dir(self.checkpoint_dir())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.strip_prefix("model-")?.strip_suffix(".bpk")?.parse().ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// Epochs with all three checkpoint files (model, optimizer, scheduler), ascending.
    pub fn complete_checkpoints(&self) -> Vec<usize> {
        self.checkpoint_epochs()
            .into_iter()
            .filter(|&e| {
                ["optim", "scheduler"]
                    .iter()
                    .all(|k| self.checkpoint_file(k, e).is_file())
            })
            .collect()
    }

    pub fn last_checkpoint(&self) -> Option<usize> {
        self.complete_checkpoints().last().copied()
    }

    /// The kept checkpoint with the lowest validation loss.
    pub fn best_epoch(&self) -> Result<Option<usize>> {
        let kept = self.checkpoint_epochs();
        Ok(self
            .metrics()?
            .into_iter()
            .filter(|r| kept.contains(&r.epoch) && r.valid_loss.is_finite())
            .min_by(|a, b| a.valid_loss.total_cmp(&b.valid_loss))
            .map(|r| r.epoch))
    }
}

/// The header of `metrics.csv`, in [`EpochRow`]'s field order.
pub const EPOCH_COLUMNS: [&str; 11] = [
    "epoch",
    "train_loss",
    "train_objective",
    "train_acc",
    "train_top5",
    "valid_loss",
    "valid_acc",
    "valid_top5",
    "lr",
    "images_per_s",
    "epoch_s",
];

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| RunDirError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| RunDirError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_atomic(path, text.as_bytes())
}
