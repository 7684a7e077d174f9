//! `convlab ablate`: a suite's runs planned, each one's next step read from its directory
//! (skip what finished, resume what was interrupted, re-run failures only when asked), carried
//! out by the sweep's runner, then reported in `<out>/<suite>/<timestamp>/`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};

use crate::base::backend::Backend;
use crate::config::suite::Suite;
use crate::record::rundir::{RunDir, write_atomic};
use crate::sweep::executor::{Job, JobContext};
use crate::sweep::plan::{PlanOptions, PlannedRun, plan};
use crate::sweep::preflight::{self, Sizes};
use crate::sweep::report::{self, PlanRecord, RunResult};
use crate::sweep::runner::{Ended, Executor, ExecutorKind, Outcome, Runner};
use crate::sweep::runstore::{NextStep, RunState, RunStore};
use crate::sweep::wall::{self, WallTime};

#[derive(Debug, Clone)]
pub struct AblateOptions {
    pub suite: String,
    pub plan: PlanOptions,
    pub jobs: usize,
    pub executor: ExecutorKind,
    pub retry_failed: bool,
    pub out: PathBuf,
    pub backend: Backend,
    pub data_dir: Option<PathBuf>,
    pub fetch: bool,
    /// The `convlab` binary the runs execute.
    pub exe: PathBuf,
    /// Slurm: wait for the array and write the report (else return after submitting).
    pub wait: bool,
    /// Recorded in the report.
    pub command: String,
    /// Print the plan (and each run's state) without running or writing anything.
    pub dry_run: bool,
    /// With `dry_run`: measure the plan's models and estimate its wall time.
    pub estimate: bool,
}

/// Runs a suite and writes its report; returns the report directory.
pub fn ablate(opts: &AblateOptions) -> Result<PathBuf> {
    let started = Instant::now();
    let suite = Suite::load(&opts.suite)?.at_budget(opts.plan.budget);
    let runs = plan(&suite, &opts.plan)?;
    let sizes = model_sizes(&runs)?;
    let store = RunStore::new(&opts.out, &suite.name);
    if opts.dry_run {
        let estimate = if opts.estimate {
            let done = |r: &PlannedRun| store.state(&r.id) == RunState::Done;
            let jobs = match opts.executor {
                ExecutorKind::Local => opts.jobs,
                // A cluster runs the array at once, as far as it has nodes: one slot per run
                // is the lower bound; the per-run times are what matter there.
                _ => runs.len(),
            };
            Some(crate::sweep::estimate::estimate(
                &runs,
                &done,
                &opts.exe,
                opts.backend,
                jobs,
            )?)
        } else {
            None
        };
        preflight::print_plan(&suite, &runs, &sizes, &store, estimate.as_ref());
        return Ok(store.root().to_path_buf());
    }
    preflight::check_sources(&runs, &opts.suite, &opts.plan, &opts.out)?;
    preflight::ensure_data(&runs, opts.data_dir.as_deref(), opts.fetch)?;
    std::fs::create_dir_all(store.root())?;
    let (report_dir, record) = start_report(opts, &suite, &runs, &store)?;
    let alive = wall::Heartbeat::start(&report_dir, started);
    let todo = prepare(opts, &suite.name, &runs, &store)?;
    print_todo(opts, &record, &todo);
    let ctx = JobContext::sharing_cores(
        opts.exe.clone(),
        opts.backend,
        opts.data_dir.clone(),
        opts.jobs,
    );
    let runner =
        Runner::new(ctx, &store, record.executor, report_dir.join("slurm")).waiting(opts.wait);
    let mut progress = Progress::new(&runs, &sizes, &store, &todo.jobs, opts.jobs);
    if let Outcome::Submitted(_) = runner.run(&todo.jobs, &mut |e| progress.print(e))? {
        println!(
            "not waiting; when it is done: convlab ablate report {}",
            report_dir.display()
        );
        return Ok(report_dir);
    }
    if runner.stopped() {
        bail!(
            "interrupted; the finished runs are kept and the interrupted ones resume when the suite starts again"
        );
    }
    // A local suite finished over several invocations: the interrupted ones count too (on a
    // cluster, the array's own accounting is the measure).
    let earlier = match record.executor.kind {
        ExecutorKind::Local => interrupted_before(&report_dir, &record),
        _ => vec![],
    };
    let took = WallTime {
        this_s: started.elapsed().as_secs_f64(),
        earlier,
    };
    drop(alive);
    let results = write_report(&report_dir, &record, Some(&took))?;
    print_finished(&report_dir, &results);
    if !results.iter().any(|r| r.status == RunState::Done) {
        // A suite none of whose runs finished has no answer: a failure, not a success.
        bail!(
            "no run of the suite finished; {} says why each stopped",
            report_dir.join("summary.md").display()
        );
    }
    Ok(report_dir)
}

/// The interrupted invocations before the one reporting in `report_dir`: its sibling report
/// directories (named by their start, so sorted by it) of the same plan (the same runs) that
/// wrote no report, back to the last one that did. Their time is their heartbeat's.
fn interrupted_before(report_dir: &Path, plan: &PlanRecord) -> Vec<(String, Option<f64>)> {
    let (Some(parent), Some(this)) = (report_dir.parent(), report_dir.file_name()) else {
        return vec![];
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return vec![];
    };
    let mut names: Vec<_> = entries
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.as_os_str() < this)
        .collect();
    names.sort();
    let ids = |p: &PlanRecord| p.runs.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let mine = ids(plan);
    let mut earlier = vec![];
    for name in names.iter().rev() {
        let dir = parent.join(name);
        let Ok(Some(other)) = PlanRecord::read(&dir) else {
            continue; // not a report directory (`runs`, `recipes`)
        };
        if ids(&other) != mine || dir.join("summary.md").exists() {
            break;
        }
        earlier.push((name.to_string_lossy().into_owned(), wall::beat_s(&dir)));
    }
    earlier.reverse();
    earlier
}

/// `convlab ablate report <dir>`: rebuilds a report directory from its `plan.json` and runs.
/// `suite` gives the comparisons, as for `ablate verdicts` (the plan's copy of the suite may
/// predate a claim's revision; the runs themselves stay as the plan made them).
pub fn report_again(dir: &Path, suite: &Suite) -> Result<()> {
    let Some(mut plan) = PlanRecord::read(dir)? else {
        if dir.join("results.csv").exists() {
            return from_csv(dir, suite);
        }
        bail!(
            "{}: not a suite report directory (no plan.json)",
            dir.display()
        );
    };
    plan.suite.comparisons = suite.comparisons.clone();
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default();
    let results = write_report(dir, &plan, WallTime::parse(&summary).as_ref())?;
    print_finished(dir, &results);
    Ok(())
}

/// A report without its plan or runs (committed results keep only `results.csv` and
/// `summary.md`): what its numbers give is rebuilt, `summary.md` (how it was run read back
/// from its own first lines), `bars.png`, the axis charts and `verdicts.md`; `curves.png` needs
/// the runs' histories and stays as it is.
fn from_csv(dir: &Path, suite: &Suite) -> Result<()> {
    let results =
        crate::sweep::verdicts::read_results_with(&dir.join("results.csv"), &suite.targets)?;
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default();
    let synthetic = summary.contains("budget `smoke`");
    if let Some((plan, took)) = PlanRecord::from_summary(suite, &summary) {
        crate::sweep::summary::write_summary(
            &dir.join("summary.md"),
            &plan,
            &results,
            took.as_ref(),
        )?;
    }
    crate::sweep::charts::write_bars(dir, suite, &results, !synthetic)?;
    crate::sweep::charts::write_axis_charts(dir, suite, &results)?;
    if !suite.comparisons.is_empty() {
        crate::sweep::verdicts::verdicts(dir, suite)?;
    }
    println!(
        "report: {} ({} rows of results.csv; summary, bars, axis charts{} rebuilt, curves kept)",
        dir.display(),
        results.len(),
        if suite.comparisons.is_empty() {
            ""
        } else {
            " and verdicts"
        }
    );
    Ok(())
}

/// Writes every file of a report directory from its plan: `results.csv`, `summary.md` and the
/// charts; `took` is how long the suite's invocations took, when one of them ran it.
pub fn write_report(
    dir: &Path,
    plan: &PlanRecord,
    took: Option<&WallTime>,
) -> Result<Vec<RunResult>> {
    let results = report::collect(plan);
    report::write_csv(&dir.join("results.csv"), plan, &results)?;
    crate::sweep::summary::write_summary(&dir.join("summary.md"), plan, &results, took)?;
    crate::sweep::charts::write_plots(dir, plan, &results)?;
    crate::sweep::charts::write_axis_plots(dir, plan, &results)?;
    Ok(results)
}

/// The report's last line: where it is and how many runs finished.
fn print_finished(dir: &Path, results: &[RunResult]) {
    println!(
        "report: {} ({} of {} runs finished)",
        dir.display(),
        results
            .iter()
            .filter(|r| r.status == RunState::Done)
            .count(),
        results.len()
    );
}

/// Each variant's model size (from its seed-0 run): an impossible variant is an error here,
/// before anything runs.
fn model_sizes(runs: &[PlannedRun]) -> Result<Vec<(String, (u64, u64))>> {
    let mut sizes = vec![];
    for r in runs.iter().filter(|r| r.seed == 0) {
        sizes.push((r.variant.clone(), crate::sweep::plan::check_model(r)?));
    }
    Ok(sizes)
}

/// Makes this invocation's report directory (`<out>/<suite>/<timestamp>`) and the suite's
/// recipes folder, and records the plan in `plan.json`.
fn start_report(
    opts: &AblateOptions,
    suite: &Suite,
    runs: &[PlannedRun],
    store: &RunStore,
) -> Result<(PathBuf, PlanRecord)> {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    let report_dir = RunDir::create_named(&opts.out.join(&suite.name), &stamp)?
        .path()
        .to_path_buf();
    std::fs::create_dir_all(recipes_dir(opts, &suite.name))?;
    let record = PlanRecord {
        suite: suite.clone(),
        budget: opts.plan.budget,
        dataset: opts.plan.dataset.clone(),
        seeds: crate::sweep::plan::seeds(suite, &opts.plan),
        executor: Executor {
            kind: opts.executor,
            jobs: opts.jobs,
        },
        command: opts.command.clone(),
        store: store.root().to_path_buf(),
        runs: runs.to_vec(),
        started: chrono::Local::now().to_rfc3339(),
        binary: crate::record::rundir::RunInfo::binary(),
    };
    write_atomic(
        &report_dir.join("plan.json"),
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;
    Ok((report_dir, record))
}

/// Where a suite keeps the recipes of its new runs: `<out>/<suite>/recipes`.
fn recipes_dir(opts: &AblateOptions, suite: &str) -> PathBuf {
    opts.out.join(suite).join("recipes")
}

/// What this invocation does with the suite's planned runs.
struct Todo<'a> {
    /// The runs to start or resume.
    jobs: Vec<Job>,
    /// Runs that finished before.
    skipped: usize,
    /// Runs that failed before and are not retried, with why.
    failed: Vec<(&'a PlannedRun, String)>,
}

/// Sorts the runs by their next step; a run that starts gets its recipe written.
fn prepare<'a>(
    opts: &AblateOptions,
    suite: &str,
    runs: &'a [PlannedRun],
    store: &RunStore,
) -> Result<Todo<'a>> {
    let recipes = recipes_dir(opts, suite);
    let mut todo = Todo {
        jobs: vec![],
        skipped: 0,
        failed: vec![],
    };
    for r in runs {
        let recipe = match store.next_step(&r.id, opts.retry_failed)? {
            NextStep::Skip => {
                todo.skipped += 1;
                continue;
            }
            NextStep::KeepFailed(why) => {
                todo.failed.push((r, why));
                continue;
            }
            NextStep::Resume => None,
            NextStep::Start => {
                let path = recipes.join(format!("{}.toml", r.id));
                write_atomic(&path, r.recipe.to_toml().as_bytes())?;
                Some(path)
            }
        };
        todo.jobs.push(Job {
            id: r.id.clone(),
            variant: r.variant.clone(),
            seed: r.seed,
            recipe,
            name: format!("{suite}/{}", r.variant),
            args: vec![],
        });
    }
    Ok(todo)
}

/// The suite's line before it runs (runs to make, resuming, finished, failed), then a line per
/// failed run that is skipped.
fn print_todo(opts: &AblateOptions, record: &PlanRecord, todo: &Todo<'_>) {
    let suite = &record.suite;
    println!(
        "suite {}: {} runs ({} variants × {} seeds, budget {}): {} to run ({} resuming), {} already finished, {} failed before{}",
        suite.name,
        record.runs.len(),
        suite.variants().len(),
        record.seeds,
        record.budget.name(),
        todo.jobs.len(),
        todo.jobs.iter().filter(|j| j.recipe.is_none()).count(),
        todo.skipped,
        todo.failed.len(),
        if todo.failed.is_empty() || opts.retry_failed {
            ""
        } else {
            " (--retry-failed runs them again)"
        }
    );
    for (r, why) in &todo.failed {
        println!(
            "  skipping failed run {} seed {} ({}): {why}",
            r.variant, r.seed, r.id
        );
    }
}

/// The progress lines of a suite's runs: each as it ends, with (locally) its test accuracy
/// and the time left, each run weighed by its model's MACs times its epochs (a ResNet-56 run
/// costs about three ResNet-20 ones).
struct Progress<'a> {
    runs: &'a [PlannedRun],
    sizes: &'a Sizes,
    store: &'a RunStore,
    /// Runs at once: the time left is shared among them.
    at_once: usize,
    /// Cost of the runs not ended yet, and of those ended with the seconds they took.
    left_cost: f64,
    done_cost: f64,
    spent: f64,
}

impl<'a> Progress<'a> {
    fn new(
        runs: &'a [PlannedRun],
        sizes: &'a Sizes,
        store: &'a RunStore,
        jobs: &[Job],
        at_once: usize,
    ) -> Self {
        let mut p = Self {
            runs,
            sizes,
            store,
            at_once,
            left_cost: 0.0,
            done_cost: 0.0,
            spent: 0.0,
        };
        let left_cost: f64 = jobs.iter().map(|j| p.cost(j)).sum();
        p.left_cost = left_cost;
        p
    }

    /// A job's weight: its model's MACs times its epochs.
    fn cost(&self, j: &Job) -> f64 {
        let macs = self
            .sizes
            .iter()
            .find(|(v, _)| *v == j.variant)
            .map_or(1, |(_, (_, m))| (*m).max(1));
        let epochs = self
            .runs
            .iter()
            .find(|r| r.id == j.id)
            .map_or(1, |r| r.recipe.epochs);
        macs as f64 * epochs.max(1) as f64
    }

    fn print(&mut self, e: Ended<'_>) {
        let Some(seconds) = e.seconds else {
            println!(
                "[{}/{}] {} seed {}: {}",
                e.done,
                e.total,
                e.job.variant,
                e.job.seed,
                e.state.label()
            );
            return;
        };
        let cost = self.cost(e.job);
        self.spent += seconds;
        self.done_cost += cost;
        self.left_cost -= cost;
        let eta =
            self.spent / self.done_cost * self.left_cost.max(0.0) / self.at_once.max(1) as f64;
        let result = RunDir::open(&self.store.dir(&e.job.id))
            .and_then(|r| r.summary())
            .ok()
            .and_then(|s| s.test.map(|t| format!(", test top-1 {:.2}%", t.top1)))
            .unwrap_or_default();
        println!(
            "[{}/{}] {} seed {}: {} in {:.0}s{result}; about {:.0} min left",
            e.done,
            e.total,
            e.job.variant,
            e.job.seed,
            e.state.label(),
            seconds,
            eta / 60.0
        );
    }
}
