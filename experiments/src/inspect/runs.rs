//! `convlab runs`: every run directory under a folder (a training run's `runs/`, a suite's or a
//! search's), one row each: name, recipe, when it started, where it stands and its best numbers,
//! newest last, optionally filtered.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::record::rundir::{RunDir, RunStatus};

/// One run as `convlab runs` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    /// The run directory, relative to the folder listed.
    pub run: String,
    pub recipe: String,
    pub started_at: String,
    /// completed, early-stopped, diverged, interrupted, running (pid N) or incomplete.
    pub status: String,
    pub epochs: usize,
    pub best_valid_acc: Option<f64>,
    pub test_top1: Option<f64>,
    pub wall_time_s: Option<f64>,
    pub backend: String,
}

/// Directories below `root` (at most four levels down) that hold a run (`run.json`).
fn run_dirs(root: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if root.join("run.json").is_file() {
        out.push(root.to_path_buf());
        return;
    }
    if depth == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Set-aside attempts and the checkpoints of a run are not runs of their own.
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    dirs.sort();
    for d in dirs {
        run_dirs(&d, depth - 1, out);
    }
}

fn row(root: &Path, dir: &Path) -> RunRow {
    let run = RunDir::open(dir).ok();
    let info = run.as_ref().and_then(|r| r.info().ok());
    let summary = run.as_ref().and_then(|r| r.summary().ok());
    // A finished run's summary has its numbers; only a run without one is read epoch by epoch.
    let rows = match (&summary, &run) {
        (None, Some(r)) => r.metrics().unwrap_or_default(),
        _ => vec![],
    };
    let status = match (RunDir::writer(dir), &summary) {
        (Some(pid), _) => format!("running ({pid})"),
        (None, Some(s)) => match s.status {
            RunStatus::Completed => "completed".into(),
            RunStatus::EarlyStopped => "early-stopped".into(),
            RunStatus::Diverged => "diverged".into(),
            RunStatus::Interrupted => "interrupted".into(),
        },
        (None, None) if run.as_ref().and_then(|r| r.last_checkpoint()).is_some() => {
            "interrupted".into()
        }
        (None, None) => "incomplete".into(),
    };
    let best_valid = rows
        .iter()
        .map(|r| r.valid_acc)
        .filter(|v| v.is_finite())
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    RunRow {
        run: dir
            .strip_prefix(root)
            .unwrap_or(dir)
            .to_string_lossy()
            .into_owned(),
        recipe: info
            .as_ref()
            .map(|i| i.recipe.clone())
            .filter(|r| !r.is_empty())
            .or_else(|| summary.as_ref().map(|s| s.recipe.clone()))
            .unwrap_or_default(),
        started_at: info
            .as_ref()
            .map(|i| i.started_at.clone())
            .unwrap_or_default(),
        status,
        epochs: summary
            .as_ref()
            .map_or(rows.last().map_or(0, |r| r.epoch), |s| s.epochs),
        best_valid_acc: summary
            .as_ref()
            .and_then(|s| s.best_valid_acc)
            .or(best_valid),
        test_top1: summary
            .as_ref()
            .and_then(|s| s.test.as_ref().map(|t| t.top1)),
        wall_time_s: summary.as_ref().map(|s| s.wall_time_s),
        backend: info.map(|i| i.backend).unwrap_or_default(),
    }
}

/// Every run under `root`, oldest first; with `filter`, those whose directory, recipe or status
/// contains it.
pub fn list(root: &Path, filter: Option<&str>) -> Vec<RunRow> {
    let mut dirs = Vec::new();
    run_dirs(root, 4, &mut dirs);
    let mut rows: Vec<RunRow> = dirs.iter().map(|d| row(root, d)).collect();
    if let Some(f) = filter {
        rows.retain(|r| r.run.contains(f) || r.recipe.contains(f) || r.status.contains(f));
    }
    rows.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.run.cmp(&b.run)));
    rows
}

/// The rows as a terminal table.
pub fn render(rows: &[RunRow]) -> String {
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    let mut t = crate::base::table::new(&[
        "run",
        "recipe",
        "started",
        "status",
        "epochs",
        "best valid %",
        "test top-1 %",
        "wall s",
        "backend",
    ]);
    for r in rows {
        t.add_row(vec![
            r.run.clone(),
            r.recipe.clone(),
            r.started_at.clone(),
            r.status.clone(),
            r.epochs.to_string(),
            pct(r.best_valid_acc),
            pct(r.test_top1),
            r.wall_time_s.map_or("-".to_string(), |s| format!("{s:.0}")),
            r.backend.clone(),
        ]);
    }
    t.to_string()
}
