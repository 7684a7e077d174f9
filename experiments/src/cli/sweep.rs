//! `ablate`, `ablations`, `search` and `ensemble`: many runs at once, and their reports.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use crate::base::backend::Backend;
use crate::base::table;
use crate::run::eval::CheckpointChoice;

#[derive(Args)]
pub struct SearchArgs {
    /// Base recipe (name or path).
    pub recipe: String,
    /// The search space (TOML: params and stages; see `experiments/search/`).
    #[arg(long)]
    pub space: PathBuf,
    /// Trials of the first stage (default: the space's).
    #[arg(long)]
    pub trials: Option<usize>,
    /// Run only the first N stages.
    #[arg(long)]
    pub stages: Option<usize>,
    #[command(flatten)]
    pub runs: RunnerArgs,
    /// The search's name: its directory under --out (default: `<recipe>-<space file>`).
    #[arg(long)]
    pub name: Option<String>,
    /// Where searches keep their trials and results (`<out>/<name>/`).
    #[arg(long, default_value = "searches")]
    pub out: PathBuf,
}

/// How `ablate` and `search` carry out their runs.
#[derive(Args)]
pub struct RunnerArgs {
    /// Runs at once (local: processes sharing the cores; slurm: the array's task cap).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// local: child processes on this machine; slurm: one job array through `sbatch`.
    #[arg(long, value_enum, default_value = "local")]
    pub executor: crate::sweep::runner::ExecutorKind,
    /// Run failed runs again (each is set aside, not deleted).
    #[arg(long)]
    pub retry_failed: bool,
    /// Backend of every run: flex (default, unlike `train`'s auto: runs that share the cores
    /// must not race for one GPU), ndarray or wgpu.
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
    /// Data directory (default: $CONVLAB_DATA, else the per-user cache directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct EnsembleArgs {
    /// Run directories, or a suite report directory with --variant (its seeds).
    #[arg(required = true)]
    pub members: Vec<PathBuf>,
    /// With a suite report directory: the variant whose runs are the members.
    #[arg(long)]
    pub variant: Option<String>,
    /// Each member's checkpoint: the best validation loss, or the last epoch's.
    #[arg(long, value_enum, default_value = "best")]
    pub checkpoint: CheckpointChoice,
    /// Test-time augmentation: `flip` averages each image with its mirror image.
    #[arg(long, value_enum)]
    pub tta: Option<crate::inspect::ensemble::Tta>,
    /// flex (default), ndarray or wgpu.
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
    /// Data directory (default: $CONVLAB_DATA, else the per-user cache directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AblateArgs {
    #[command(subcommand)]
    pub action: Option<AblateAction>,
    /// Suite name (see `convlab ablations`) or path to a suite .toml.
    pub suite: Option<String>,
    /// The suite's budget: smoke (synthetic, seconds), short (the real-data runs committed
    /// under results/) or full (the papers' recipes).
    #[arg(long, value_enum, default_value = "short")]
    pub budget: crate::config::suite::BudgetName,
    /// Seeds per variant (default: the suite's).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Train on this dataset instead of the base recipe's (e.g. fashion-mnist).
    #[arg(long)]
    pub dataset: Option<String>,
    #[command(flatten)]
    pub runs: RunnerArgs,
    /// Where suites keep their runs and reports (`<out>/<suite>/`).
    #[arg(long, default_value = "ablations")]
    pub out: PathBuf,
    /// Do not download missing data.
    #[arg(long)]
    pub no_fetch: bool,
    /// Slurm: return after submitting (then `convlab ablate report <dir>`).
    #[arg(long)]
    pub no_wait: bool,
    /// Print the runs (variant, seed, id, state, model size, overrides) with the estimated
    /// wall time of each and of the suite on this machine with `--jobs` (each distinct model
    /// measured for a few steps first, cached in ~/.cache/convlab/throughput.json), and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: list the runs without measuring or estimating anything.
    #[arg(long, requires = "dry_run")]
    pub no_estimate: bool,
}

#[derive(Subcommand)]
pub enum AblateAction {
    /// Rebuild a report directory's tables and plots from its runs.
    Report {
        /// A report directory, e.g. ablations/residual/20261122-120000.
        dir: PathBuf,
        /// Without plan.json (committed results): the suite whose results these are; by
        /// default the one named like the directory. Bars, axis charts and verdicts are redrawn
        /// from results.csv.
        #[arg(long)]
        suite: Option<String>,
    },
    /// Judge a suite's comparisons on a results.csv (or a report directory holding one):
    /// intervals, Holm's adjustment and verdicts, printed and written as verdicts.md beside it.
    Verdicts {
        /// A results.csv, or the directory holding it, e.g. results/ablations/residual.
        results: PathBuf,
        /// The suite (built-in name or file) whose comparisons apply; by default the report's
        /// plan.json names it, else the directory's name.
        #[arg(long)]
        suite: Option<String>,
    },
    /// One table across suites: every comparison's claim, our difference with its interval,
    /// the verdict after Holm, dataset, budget, seeds and the binary that made the runs.
    Scorecard {
        /// Results directories (a results.csv inside), each optionally `DIR=SUITE`, e.g.
        /// results/ablations/residual results/ablations/activation-kaiming=activation.
        #[arg(required = true)]
        dirs: Vec<crate::sweep::scorecard::Source>,
        /// Where to write the table.
        #[arg(long, default_value = "scorecard.md")]
        out: PathBuf,
    },
}

pub fn search(a: SearchArgs) -> Result<()> {
    crate::sweep::search::search(&crate::sweep::search::SearchOptions {
        recipe: a.recipe,
        space: a.space,
        name: a.name,
        trials: a.trials,
        stages: a.stages,
        jobs: a.runs.jobs.max(1),
        executor: a.runs.executor,
        out: a.out,
        backend: a.runs.backend,
        data_dir: a.runs.data_dir,
        exe: std::env::current_exe()?,
        retry_failed: a.runs.retry_failed,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    })
    .map(|_| ())
}

pub fn ensemble(a: EnsembleArgs) -> Result<()> {
    let members = crate::inspect::ensemble::expand(&a.members, a.variant.as_deref())?;
    let r = crate::inspect::ensemble::ensemble(
        &members,
        &crate::inspect::ensemble::EnsembleOptions {
            checkpoint: a.checkpoint,
            tta: a.tta,
            backend: a.backend,
            data_dir: a.data_dir,
        },
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let mut t = table::new(&["member", "epoch", "test top-1 %"]);
    for m in &r.members {
        t.add_row(vec![
            m.run.display().to_string(),
            m.epoch.to_string(),
            format!("{:.2}", m.top1),
        ]);
    }
    print!("{t}");
    println!(
        "ensemble of {} ({} test images{}): top-1 {:.2}%; best member {:.2}% (gain {:+.2}), mean member {:.2}% (gain {:+.2})",
        r.members.len(),
        r.images,
        if r.tta.is_some() { ", flip TTA" } else { "" },
        r.top1,
        r.best_member(),
        r.top1 - r.best_member(),
        r.mean_member(),
        r.top1 - r.mean_member()
    );
    Ok(())
}

pub fn ablations() -> Result<()> {
    let mut t = table::new(&["suite", "runs", "question"]);
    for name in crate::config::suite::builtin_names() {
        let s = crate::config::suite::Suite::load(name)?;
        t.add_row(vec![
            name.to_string(),
            format!("{} × {}", s.variants().len(), s.seeds),
            s.question.clone(),
        ]);
    }
    print!("{t}");
    Ok(())
}

pub fn ablate(a: AblateArgs) -> Result<()> {
    match a.action {
        Some(AblateAction::Report { dir, suite }) => {
            let suite = verdict_suite(&dir, suite)?;
            return crate::sweep::ablate::report_again(&dir, &suite);
        }
        Some(AblateAction::Verdicts { results, suite }) => {
            let suite = verdict_suite(&results, suite)?;
            print!("{}", crate::sweep::verdicts::verdicts(&results, &suite)?);
            return Ok(());
        }
        Some(AblateAction::Scorecard { dirs, out }) => {
            print!("{}", crate::sweep::scorecard::scorecard(&dirs, &out)?);
            println!("scorecard: {}", out.display());
            return Ok(());
        }
        None => {}
    }
    let Some(suite) = a.suite else {
        bail!("name a suite (see `convlab ablations`) or `convlab ablate report <dir>`");
    };
    let opts = crate::sweep::ablate::AblateOptions {
        suite,
        plan: crate::sweep::plan::PlanOptions {
            budget: a.budget,
            seeds: a.seeds,
            dataset: a.dataset,
            out: a.out.clone(),
        },
        jobs: a.runs.jobs.max(1),
        executor: a.runs.executor,
        retry_failed: a.runs.retry_failed,
        out: a.out,
        backend: a.runs.backend,
        data_dir: a.runs.data_dir,
        fetch: !a.no_fetch,
        exe: std::env::current_exe()?,
        wait: !a.no_wait,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        dry_run: a.dry_run,
        estimate: a.dry_run && !a.no_estimate,
    };
    crate::sweep::ablate::ablate(&opts).map(|_| ())
}

/// The suite whose comparisons `ablate verdicts` and `ablate report` apply to `results` (a
/// results.csv or the directory holding it).
fn verdict_suite(
    results: &std::path::Path,
    given: Option<String>,
) -> Result<crate::config::suite::Suite> {
    let dir = if results.is_dir() {
        results
    } else {
        results.parent().unwrap_or(std::path::Path::new(""))
    };
    crate::sweep::verdicts::suite_for(dir, given.as_deref(), "with --suite")
}
