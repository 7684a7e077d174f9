//! A suite's report, rebuilt from its runs at any time into its directory
//! `<out>/<suite>/<timestamp>/`: `plan.json` records how the suite was run ([`PlanRecord`]),
//! [`collect`] reads each planned run's results from the store, and `results.csv` lists them,
//! one row per run. `summary.md` ([`crate::sweep::summary`]) and the charts
//! ([`crate::sweep::charts`]) are made from the same results.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::suite::{BudgetName, Curve, Metric, Suite, Target};
use crate::record::rundir::{EpochRow, RunDir, RunStatus, RunSummary, write_atomic};
use crate::sweep::plan::PlannedRun;
use crate::sweep::runner::Executor;
use crate::sweep::runstore::{RunState, RunStore};
use crate::sweep::wall::WallTime;

/// What `plan.json` in a report directory records: the suite, how it was run, its runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanRecord {
    pub suite: Suite,
    pub budget: BudgetName,
    pub dataset: Option<String>,
    pub seeds: usize,
    pub executor: Executor,
    /// The command line that made it.
    pub command: String,
    /// The suite's run store (`<out>/<suite>/runs`).
    pub store: std::path::PathBuf,
    pub runs: Vec<PlannedRun>,
    pub started: String,
    /// The binary that planned it: version and commit (`+dirty` with uncommitted changes).
    #[serde(default)]
    pub binary: String,
}

impl PlanRecord {
    /// `dir/plan.json`, or `None` where there is none (committed results); an unreadable one
    /// is an error naming it.
    pub fn read(dir: &Path) -> Result<Option<PlanRecord>> {
        let path = dir.join("plan.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("{}: unreadable plan.json", dir.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("{}", path.display())),
        }
    }

    /// How a committed report was run, read back from its `summary.md`'s first lines (`- Base
    /// recipe …; budget …; dataset …; seeds 0–N per variant; executor …`, `- Command: …`,
    /// `- Made by …`, `this invocation took N s`); `None` when they are not there.
    pub fn from_summary(suite: &Suite, summary: &str) -> Option<(PlanRecord, Option<WallTime>)> {
        let line = summary.lines().find(|l| l.starts_with("- Base recipe"))?;
        let field = |name: &str| {
            line.trim_end_matches('.')
                .split("; ")
                .find_map(|p| p.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        let budget = BudgetName::from_name(field("budget ")?.trim_matches('`'))?;
        let dataset = field("dataset ")
            .filter(|d| d.starts_with('`'))
            .map(|d| d.trim_matches('`').to_string());
        let seeds = field("seeds ")?
            .split(' ')
            .next()?
            .split_once('–')
            .and_then(|(a, b)| Some(b.parse::<usize>().ok()? + 1 - a.parse::<usize>().ok()?))?;
        let executor = field("executor ")?.parse().ok()?;
        let after = |prefix: &str| {
            summary
                .lines()
                .find_map(|l| l.strip_prefix(prefix))
                .map(str::to_string)
        };
        let command = after("- Command: `")?.trim_end_matches('`').to_string();
        let took = WallTime::parse(summary);
        let plan = PlanRecord {
            suite: suite.clone(),
            budget,
            dataset,
            seeds,
            executor,
            command,
            store: std::path::PathBuf::new(),
            runs: vec![],
            started: String::new(),
            binary: after("- Made by ").unwrap_or_default(),
        };
        Some((plan, took))
    }
}

/// One run's line of `results.csv`.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    pub variant: String,
    pub seed: u64,
    pub id: String,
    /// The store's state, or `Diverged` where the run's summary says so.
    pub status: RunState,
    /// Why a run did not finish (its failure, from the store).
    pub note: String,
    pub parameters: Option<u64>,
    pub macs: Option<u64>,
    pub epochs: Option<usize>,
    pub values: BTreeMap<Metric, f64>,
    /// Epochs until each target was met (`None`: not met).
    pub reached: Vec<Option<usize>>,
    /// Whether its validation accuracy had plateaued ([`plateaued`]); `None` where unknown
    /// (no history, or a `results.csv` from before the column).
    pub converged: Option<bool>,
    pub rows: Vec<EpochRow>,
}

fn metric_value(m: Metric, s: &RunSummary, rows: &[EpochRow]) -> Option<f64> {
    let last = rows.last();
    match m {
        Metric::TestAcc => s.test.as_ref().map(|t| t.top1),
        Metric::TestError => s.test.as_ref().map(|t| 100.0 - t.top1),
        Metric::TestTop5 => s.test.as_ref().map(|t| t.top5),
        Metric::BestValidAcc => s.best_valid_acc,
        Metric::FinalValidAcc => s.final_valid_acc,
        Metric::FinalTrainLoss => last.map(|r| r.train_loss),
        Metric::FinalTrainError => last.map(|r| 100.0 - r.train_acc),
        Metric::WallTimeS => Some(s.wall_time_s),
        Metric::ImagesPerS => Some(s.images_per_s),
    }
}

pub(crate) const ALL_METRICS: [Metric; 9] = [
    Metric::BestValidAcc,
    Metric::FinalValidAcc,
    Metric::TestAcc,
    Metric::TestError,
    Metric::TestTop5,
    Metric::FinalTrainLoss,
    Metric::FinalTrainError,
    Metric::WallTimeS,
    Metric::ImagesPerS,
];

fn curve(r: &EpochRow, c: Curve) -> f64 {
    match c {
        Curve::ValidAcc => r.valid_acc,
        Curve::TrainAcc => r.train_acc,
        Curve::TrainError => 100.0 - r.train_acc,
        Curve::ValidError => 100.0 - r.valid_acc,
    }
}

/// The first epoch at which `target` is met.
pub fn epochs_to(rows: &[EpochRow], target: &Target) -> Option<usize> {
    rows.iter()
        .find(|r| {
            let v = curve(r, target.curve);
            if target.curve.falls() {
                v <= target.value
            } else {
                v >= target.value
            }
        })
        .map(|r| r.epoch)
}

/// Collects every planned run's results from the store.
pub fn collect(plan: &PlanRecord) -> Vec<RunResult> {
    let store = RunStore::at(&plan.store);
    plan.runs
        .iter()
        .map(|p| collect_run(plan, &store, p))
        .collect()
}

/// One run's results: its state, its model's size, and what its directory holds (metrics,
/// summary, the epochs it took to reach each target).
fn collect_run(plan: &PlanRecord, store: &RunStore, p: &PlannedRun) -> RunResult {
    let state = store.state(&p.id);
    let note = match &state {
        RunState::Failed(why) => why.clone(),
        _ => String::new(),
    };
    let mut r = RunResult {
        variant: p.variant.clone(),
        seed: p.seed,
        id: p.id.clone(),
        status: state,
        note,
        ..Default::default()
    };
    if let Ok((params, macs)) = crate::sweep::plan::check_model(p) {
        r.parameters = Some(params);
        r.macs = Some(macs);
    }
    let Ok(run) = RunDir::open(&store.dir(&p.id)) else {
        return r;
    };
    let rows = run.metrics().unwrap_or_default();
    if let Ok(s) = run.summary() {
        for m in ALL_METRICS {
            if let Some(v) = metric_value(m, &s, &rows) {
                r.values.insert(m, v);
            }
        }
        r.epochs = Some(s.epochs);
        if s.status == RunStatus::Diverged {
            r.status = RunState::Diverged;
        }
    }
    r.reached = plan
        .suite
        .targets
        .iter()
        .map(|t| epochs_to(&rows, t))
        .collect();
    r.converged = (!rows.is_empty()).then(|| plateaued(&rows));
    r.rows = rows;
    r
}

/// Epochs over which a plateau is judged, and how far validation accuracy may move in them.
pub const PLATEAU_EPOCHS: usize = 3;
pub const PLATEAU_POINTS: f64 = 0.3;

/// Whether validation accuracy moved less than [`PLATEAU_POINTS`] over the last
/// [`PLATEAU_EPOCHS`] epochs (a shorter run has not shown a plateau).
pub fn plateaued(rows: &[EpochRow]) -> bool {
    if rows.len() < PLATEAU_EPOCHS {
        return false;
    }
    let last = &rows[rows.len() - PLATEAU_EPOCHS..];
    let (lo, hi) = last
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
            (lo.min(r.valid_acc), hi.max(r.valid_acc))
        });
    hi - lo < PLATEAU_POINTS
}

fn fmt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.4}"))
}

/// Writes `results.csv`.
pub fn write_csv(path: &Path, plan: &PlanRecord, results: &[RunResult]) -> Result<()> {
    let mut w = csv::Writer::from_writer(vec![]);
    let mut header: Vec<String> = [
        "variant",
        "seed",
        "run_id",
        "status",
        "parameters",
        "macs",
        "epochs",
    ]
    .map(String::from)
    .to_vec();
    header.extend(ALL_METRICS.iter().map(|m| m.name().to_string()));
    header.extend(plan.suite.targets.iter().map(Target::column));
    header.push("converged".into());
    // Each row says which binary planned it (version, commit, +dirty), so the file alone
    // carries its provenance; plan.json has the command, dataset and budget.
    header.push("made_by".into());
    w.write_record(&header)?;
    for r in results {
        let mut row = vec![
            r.variant.clone(),
            r.seed.to_string(),
            r.id.clone(),
            r.status.label().to_string(),
            r.parameters.map_or(String::new(), |v| v.to_string()),
            r.macs.map_or(String::new(), |v| v.to_string()),
            r.epochs.map_or(String::new(), |v| v.to_string()),
        ];
        row.extend(ALL_METRICS.iter().map(|m| fmt(r.values.get(m).copied())));
        row.extend(
            r.reached
                .iter()
                .map(|e| e.map_or("not reached".to_string(), |e| e.to_string())),
        );
        row.push(match r.converged {
            Some(true) => "yes".into(),
            Some(false) => "no".into(),
            None => String::new(),
        });
        row.push(plan.binary.clone());
        w.write_record(&row)?;
    }
    let bytes = w.into_inner().context("writing results.csv")?;
    write_atomic(path, &bytes)?;
    Ok(())
}

/// The finished runs of variant `v`.
pub fn finished<'a>(results: &'a [RunResult], v: &'a str) -> impl Iterator<Item = &'a RunResult> {
    results
        .iter()
        .filter(move |r| r.variant == v && r.status == RunState::Done)
}

/// Values of metric `m` for variant `v` over its finished runs.
pub fn values(results: &[RunResult], v: &str, m: Metric) -> Vec<f64> {
    finished(results, v)
        .filter_map(|r| r.values.get(&m).copied())
        .collect()
}
