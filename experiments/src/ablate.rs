//! `convlab ablate`: a suite's runs planned, each one's next step read from its directory
//! (skip what finished, resume what was interrupted, re-run failures only when asked), carried
//! out by an executor, then reported in `<out>/<suite>/<timestamp>/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::executor::{self, Job, JobContext};
use crate::plan::{PlanOptions, plan};
use crate::report::{self, PlanRecord};
use crate::rundir::{RunDir, write_atomic};
use crate::runstore::{RunState, RunStore};
use crate::suite::Suite;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutorKind {
    /// This machine, `--jobs` runs at once.
    Local,
    /// One Slurm job array (`sbatch --array`), `--jobs` tasks at once.
    Slurm,
}

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

/// Makes sure a named dataset is on disk (downloading it when allowed) before any run starts.
fn ensure_data(runs: &[crate::plan::PlannedRun], dir: Option<&Path>, fetch: bool) -> Result<()> {
    use convlab_datasets::{DatasetName, data_dir};
    let mut names: Vec<DatasetName> = vec![];
    for r in runs {
        let Some(name) = crate::data::named(r.recipe.data.dataset) else {
            continue;
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let dir = data_dir(dir);
    for name in names {
        let missing: Vec<_> = name
            .files()
            .into_iter()
            .filter(|f| convlab_datasets::store::locate(name, f, &dir).is_none())
            .collect();
        if missing.is_empty() {
            continue;
        }
        if fetch {
            convlab_datasets::download::fetch(name, &dir)
                .with_context(|| format!("fetching {name} for the suite"))?;
        } else {
            return Err(convlab_datasets::catalog::missing_error(name, &dir, &missing[0]).into());
        }
    }
    Ok(())
}

/// Runs a suite and writes its report; returns the report directory.
pub fn ablate(opts: &AblateOptions) -> Result<PathBuf> {
    let started = Instant::now();
    let suite = Suite::load(&opts.suite)?;
    let runs = plan(&suite, &opts.plan)?;
    let mut sizes = vec![];
    for r in runs.iter().filter(|r| r.seed == 0) {
        sizes.push((r.variant.clone(), crate::plan::check_model(r)?));
    }
    let store = RunStore::new(&opts.out, &suite.name);
    if opts.dry_run {
        print_plan(&suite, &runs, &sizes, &store);
        return Ok(store.root().to_path_buf());
    }
    check_sources(&runs, opts)?;
    ensure_data(&runs, opts.data_dir.as_deref(), opts.fetch)?;
    std::fs::create_dir_all(store.root())?;
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S").to_string();
    let report_dir = RunDir::create_named(&opts.out.join(&suite.name), &stamp)?
        .path()
        .to_path_buf();
    let recipes = opts.out.join(&suite.name).join("recipes");
    std::fs::create_dir_all(&recipes)?;
    let budget = opts.plan.budget.name();
    let record = PlanRecord {
        suite: suite.clone(),
        budget: budget.into(),
        dataset: opts.plan.dataset.clone(),
        seeds: opts.plan.seeds.unwrap_or(suite.seeds),
        executor: match opts.executor {
            ExecutorKind::Local => format!("local, {} at once", opts.jobs),
            ExecutorKind::Slurm => format!("slurm, {} at once", opts.jobs),
        },
        command: opts.command.clone(),
        store: store.root().to_path_buf(),
        runs: runs.clone(),
        started: chrono::Local::now().to_rfc3339(),
    };
    write_atomic(
        &report_dir.join("plan.json"),
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;

    // What each run needs.
    let (mut jobs, mut skipped, mut failed) = (vec![], 0usize, vec![]);
    for r in &runs {
        let new_job = |recipe: PathBuf| Job {
            id: r.id.clone(),
            variant: r.variant.clone(),
            seed: r.seed,
            recipe: Some(recipe),
            name: format!("{}/{}", suite.name, r.variant),
            args: vec![],
        };
        let recipe_path = recipes.join(format!("{}.toml", r.id));
        match store.state(&r.id) {
            RunState::Done => skipped += 1,
            RunState::Interrupted => jobs.push(Job {
                recipe: None,
                ..new_job(recipe_path)
            }),
            RunState::Failed(why) if !opts.retry_failed => failed.push((r, why)),
            state => {
                if matches!(state, RunState::Incomplete | RunState::Failed(_)) {
                    store.set_aside(&r.id, state.label())?;
                }
                write_atomic(&recipe_path, r.recipe.to_toml().as_bytes())?;
                jobs.push(new_job(recipe_path));
            }
        }
    }
    println!(
        "suite {}: {} runs ({} variants × {} seeds, budget {budget}): {} to run ({} resuming), {skipped} already finished, {} failed before{}",
        suite.name,
        runs.len(),
        suite.variants().len(),
        record.seeds,
        jobs.len(),
        jobs.iter().filter(|j| j.recipe.is_none()).count(),
        failed.len(),
        if failed.is_empty() || opts.retry_failed {
            String::new()
        } else {
            " (--retry-failed runs them again)".into()
        }
    );
    for (r, why) in &failed {
        println!(
            "  skipping failed run {} seed {} ({}): {why}",
            r.variant, r.seed, r.id
        );
    }
    let ctx = JobContext::sharing_cores(
        opts.exe.clone(),
        opts.backend,
        opts.data_dir.clone(),
        opts.jobs,
    );
    let stop = stop_flag();
    match opts.executor {
        ExecutorKind::Local => {
            let total = jobs.len();
            // The ETA weighs each run by its model's MACs times its epochs (a ResNet-56 run
            // costs about three ResNet-20 ones).
            let cost = |j: &Job| -> f64 {
                let macs = sizes
                    .iter()
                    .find(|(v, _)| *v == j.variant)
                    .map_or(1, |(_, (_, m))| (*m).max(1));
                let epochs = runs
                    .iter()
                    .find(|r| r.id == j.id)
                    .map_or(1, |r| r.recipe.epochs);
                macs as f64 * epochs.max(1) as f64
            };
            let mut left_cost: f64 = jobs.iter().map(cost).sum();
            let (mut done, mut spent, mut done_cost) = (0usize, 0f64, 0f64);
            executor::run_local(&ctx, &store, &jobs, opts.jobs, &stop, &mut |f| {
                done += 1;
                spent += f.seconds;
                done_cost += cost(f.job);
                left_cost -= cost(f.job);
                let eta = spent / done_cost * left_cost.max(0.0) / opts.jobs.max(1) as f64;
                let result = RunDir::open(&store.dir(&f.job.id))
                    .and_then(|r| r.summary())
                    .ok()
                    .and_then(|s| s.test.map(|t| format!(", test top-1 {:.2}%", t.top1)))
                    .unwrap_or_default();
                println!(
                    "[{done}/{total}] {} seed {}: {} in {:.0}s{result}; about {:.0} min left",
                    f.job.variant,
                    f.job.seed,
                    f.state.label(),
                    f.seconds,
                    eta / 60.0
                );
            })?;
        }
        ExecutorKind::Slurm => {
            if !jobs.is_empty() {
                let array =
                    executor::write_slurm_array(&ctx, &store, &jobs, &report_dir.join("slurm"))?;
                let id = executor::submit_slurm(&array, jobs.len(), opts.jobs)?;
                println!(
                    "submitted Slurm job {id}: {} tasks, {} at once; manifest {}",
                    jobs.len(),
                    opts.jobs,
                    array.manifest.display()
                );
                if !opts.wait {
                    println!(
                        "not waiting; when it is done: convlab ablate report {}",
                        report_dir.display()
                    );
                    return Ok(report_dir);
                }
                let total = jobs.len();
                let mut done = 0;
                executor::wait_slurm(&id, &store, &jobs, &stop, &mut |j, state| {
                    done += 1;
                    println!(
                        "[{done}/{total}] {} seed {}: {}",
                        j.variant,
                        j.seed,
                        state.label()
                    );
                })?;
            }
        }
    }
    if stop.load(Ordering::SeqCst) {
        bail!(
            "interrupted; the finished runs are kept and the interrupted ones resume when the suite starts again"
        );
    }
    let results = report::write_all(&report_dir, &record, Some(started.elapsed().as_secs_f64()))?;
    let done = results.iter().filter(|r| r.status == "done").count();
    println!(
        "report: {} ({done} of {} runs finished)",
        report_dir.display(),
        results.len()
    );
    Ok(report_dir)
}

/// `convlab ablate report <dir>`: rebuilds a report directory from its `plan.json` and runs.
pub fn report_again(dir: &Path) -> Result<()> {
    let text = std::fs::read_to_string(dir.join("plan.json")).with_context(|| {
        format!(
            "{}: not a suite report directory (no plan.json)",
            dir.display()
        )
    })?;
    let plan: PlanRecord = serde_json::from_str(&text)
        .with_context(|| format!("{}: unreadable plan.json", dir.display()))?;
    let results = report::write_all(dir, &plan, None)?;
    println!(
        "report: {} ({} of {} runs finished)",
        dir.display(),
        results.iter().filter(|r| r.status == "done").count(),
        results.len()
    );
    Ok(())
}

/// The state of the other suite's run a planned run starts from (`None`: it starts from none).
fn source_state(r: &crate::plan::PlannedRun) -> Option<(String, RunState)> {
    let needs = r.needs.as_ref()?;
    let dir = &r.recipe.transfer.as_ref()?.from;
    let state = match (dir.parent(), dir.file_name()) {
        (Some(root), Some(id)) => RunStore::at(root).state(&id.to_string_lossy()),
        _ => RunState::New,
    };
    Some((needs.clone(), state))
}

/// Every run another suite's run starts from must have finished: an error names the missing
/// ones and the command that makes them.
fn check_sources(runs: &[crate::plan::PlannedRun], opts: &AblateOptions) -> Result<()> {
    let mut missing: Vec<String> = vec![];
    let mut suites: Vec<String> = vec![];
    for r in runs {
        if let Some((needs, state)) = source_state(r)
            && state != RunState::Done
        {
            let line = format!("{needs} seed {} ({})", r.seed, state.label());
            if !missing.contains(&line) {
                missing.push(line);
            }
            let suite = needs.rsplit_once('/').map_or(needs.as_str(), |(s, _)| s);
            if !suites.iter().any(|s| s == suite) {
                suites.push(suite.to_string());
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let p = &opts.plan;
    let mut flags = format!(" --budget {}", p.budget.name());
    if let Some(d) = &p.dataset {
        flags.push_str(&format!(" --dataset {d}"));
    }
    if let Some(n) = p.seeds {
        flags.push_str(&format!(" --seeds {n}"));
    }
    flags.push_str(&format!(" --out {}", opts.out.display()));
    bail!(
        "{} starts from runs of another suite that have not finished: {}; run {} first",
        opts.suite,
        missing.join(", "),
        suites
            .iter()
            .map(|s| format!("`convlab ablate {s}{flags}`"))
            .collect::<Vec<_>>()
            .join(" and ")
    )
}

/// `--dry-run`: the runs a suite would make, their models and their states, one line each.
fn print_plan(
    suite: &Suite,
    runs: &[crate::plan::PlannedRun],
    sizes: &[(String, (u64, u64))],
    store: &RunStore,
) {
    let mut t = crate::table::new(&[
        "variant",
        "seed",
        "run",
        "state",
        "model",
        "params",
        "MACs",
        "epochs",
        "overrides",
    ]);
    // Each variant's own overrides, resolved once.
    let sets: std::collections::BTreeMap<String, Vec<String>> = suite
        .variants()
        .into_iter()
        .map(|(v, set)| (v, crate::suite::overrides(&set)))
        .collect();
    for r in runs {
        let (params, macs) = sizes
            .iter()
            .find(|(v, _)| *v == r.variant)
            .map_or((0, 0), |(_, s)| *s);
        let variant_set = sets.get(&r.variant).cloned().unwrap_or_default();
        t.add_row(vec![
            r.variant.clone(),
            r.seed.to_string(),
            r.id.clone(),
            match source_state(r) {
                Some((needs, s)) if s != RunState::Done => {
                    format!(
                        "{} (needs {needs}: {})",
                        store.state(&r.id).label(),
                        s.label()
                    )
                }
                _ => store.state(&r.id).label().to_string(),
            },
            r.recipe.model.arch.name().to_string(),
            crate::table::group(params),
            crate::table::group(macs),
            r.recipe.epochs.to_string(),
            variant_set.join(" "),
        ]);
    }
    print!("{t}");
    println!(
        "{} runs in {} (nothing was run; drop --dry-run to run them)",
        runs.len(),
        store.root().display()
    );
}
