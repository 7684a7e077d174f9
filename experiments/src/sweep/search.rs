//! `convlab search`: random search over a space of recipe keys ([`crate::config::space`]),
//! staged from coarse to fine, with successive halving inside each stage.
//!
//! Every trial is an ordinary run in `<out>/<name>/runs/<id>`, its id the hash of its resolved
//! recipe; sampling is seeded, so a search started again plans the same trials, finds the runs
//! it has, resumes paused ones and re-runs nothing. A failed trial is recorded, not fatal.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};

use crate::base::backend::Backend;
use crate::config::recipe::Recipe;
use crate::config::space::{Param, Space, Stage};
use crate::record::rundir::write_atomic;
use crate::sweep::executor::{Job, JobContext};
use crate::sweep::runner::{Executor, ExecutorKind, Runner};
use crate::sweep::runstore::{NextStep, RunState, RunStore};
use crate::sweep::search_report::SearchReport;
use crate::sweep::trials::{self, Trial};

/// How a search is run.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// The base recipe (name or path).
    pub recipe: String,
    pub space: PathBuf,
    /// The search's name (its directory under `out`).
    pub name: Option<String>,
    /// Trials of the first stage (the space's when `None`).
    pub trials: Option<usize>,
    /// Run only the first N stages.
    pub stages: Option<usize>,
    pub jobs: usize,
    pub executor: ExecutorKind,
    pub out: PathBuf,
    pub backend: Backend,
    pub data_dir: Option<PathBuf>,
    pub exe: PathBuf,
    pub retry_failed: bool,
    pub command: String,
}

/// Runs (or resumes) a search; returns its directory.
pub fn search(opts: &SearchOptions) -> Result<PathBuf> {
    let started = Instant::now();
    let s = Search::open(opts)?;
    let ctx = JobContext::sharing_cores(
        opts.exe.clone(),
        opts.backend,
        opts.data_dir.clone(),
        opts.jobs,
    );
    let executor = Executor {
        kind: opts.executor,
        jobs: opts.jobs,
    };
    let runner = Runner::new(ctx, &s.store, executor, s.dir.join("slurm"));
    let stages = opts
        .stages
        .unwrap_or(s.space.stages.len())
        .min(s.space.stages.len());
    if stages == 0 {
        bail!("--stages 0: nothing to run");
    }
    let mut params = s.space.params.clone();
    let mut all: Vec<Trial> = vec![];
    for (k, stage) in s.space.stages.iter().take(stages).enumerate() {
        let trials = s.run_stage(&runner, k, stage, &params)?;
        let best = trials::leaders(&trials, stage.top);
        if best.is_empty() {
            all.extend(trials);
            s.report().write(&all)?;
            bail!(
                "stage {k}: no trial finished; see {}",
                s.dir.join("trials.csv").display()
            );
        }
        params = trials::shrink_around(&params, &best);
        all.extend(trials);
    }
    let best = s.report().write(&all)?;
    print_best(best, &s);
    println!(
        "search {}: {} trials in {:.0} s; trials.csv and search.png in {}",
        s.name,
        all.len(),
        started.elapsed().as_secs_f64(),
        s.dir.display()
    );
    Ok(s.dir)
}

/// A search under way: its space, base recipe, name, and where its runs and files go.
struct Search<'a> {
    opts: &'a SearchOptions,
    space: Space,
    base: Recipe,
    name: String,
    /// `<out>/<name>`.
    dir: PathBuf,
    store: RunStore,
    /// Where new trials' recipes are written (`<dir>/recipes`).
    recipes: PathBuf,
}

impl<'a> Search<'a> {
    /// Reads the space and the base recipe, names the search (`<recipe>-<space file>` unless
    /// named), and makes its directories.
    fn open(opts: &'a SearchOptions) -> Result<Self> {
        if let Some(n) = opts.trials
            && !(1..=crate::config::space::MAX_TRIALS).contains(&n)
        {
            bail!(
                "--trials {n}: must be between 1 and {}",
                crate::config::space::MAX_TRIALS
            );
        }
        let space = Space::load(&opts.space)?;
        let base = Recipe::resolve(&opts.recipe, &[])?;
        let name = opts.name.clone().unwrap_or_else(|| {
            let stem = opts
                .space
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "space".into());
            format!("{}-{stem}", base.name)
        });
        if !crate::record::rundir::plain_name(&name) {
            bail!("--name `{name}`: expected one plain name (no path); the search lives in --out");
        }
        let dir = opts.out.join(&name);
        let store = RunStore::new(&opts.out, &name);
        std::fs::create_dir_all(store.root())?;
        let recipes = dir.join("recipes");
        std::fs::create_dir_all(&recipes)?;
        Ok(Self {
            opts,
            space,
            base,
            name,
            dir,
            store,
            recipes,
        })
    }

    /// The search's files, as they stand.
    fn report(&self) -> SearchReport<'_> {
        SearchReport {
            dir: &self.dir,
            name: &self.name,
            recipe: &self.opts.recipe,
            base: &self.base,
            command: &self.opts.command,
            space: &self.space,
        }
    }

    /// Stage `k`: samples its trials from `params`, takes them rung by rung to the stage's
    /// epochs (halving them at each rung), and reads the finished ones' test accuracy.
    fn run_stage(
        &self,
        runner: &Runner<'_>,
        k: usize,
        stage: &Stage,
        params: &BTreeMap<String, Param>,
    ) -> Result<Vec<Trial>> {
        let n = match (k, self.opts.trials) {
            (0, Some(n)) => n,
            _ => stage.trials,
        };
        let mut trials = trials::sample_stage(
            &self.opts.recipe,
            params,
            stage,
            k,
            n,
            self.space.seed,
            &self.name,
        )?;
        print_stage(k, stage, trials.len(), params);
        let mut alive: Vec<usize> = (0..trials.len()).collect();
        let rungs: Vec<usize> = stage.rungs.iter().copied().chain([stage.epochs]).collect();
        for (r, &until) in rungs.iter().enumerate() {
            let last_rung = r + 1 == rungs.len();
            let jobs = self.rung_jobs(&mut trials, &alive, k, until, last_rung)?;
            println!(
                "stage {k}, up to epoch {until}: {} trials, {} to run",
                alive.len(),
                jobs.len()
            );
            run_rung(runner, &jobs)?;
            alive = trials::judge(
                &self.store,
                &mut trials,
                &alive,
                until,
                last_rung,
                stage.eta,
            );
        }
        trials::record_tests(&self.store, &mut trials);
        Ok(trials)
    }

    /// The jobs that take the `alive` trials of stage `k` up to epoch `until` (the last rung
    /// trains to the stage's end): new trials start, paused ones short of `until` resume,
    /// finished ones wait; one that failed before (not retried) is marked failed.
    fn rung_jobs(
        &self,
        trials: &mut [Trial],
        alive: &[usize],
        k: usize,
        until: usize,
        last_rung: bool,
    ) -> Result<Vec<Job>> {
        let mut jobs = vec![];
        for &t in alive {
            let trial = &mut trials[t];
            let recipe = match self.store.next_step(&trial.id, self.opts.retry_failed)? {
                NextStep::Skip => continue,
                NextStep::KeepFailed(why) => {
                    trial.status = RunState::Failed(why);
                    continue;
                }
                NextStep::Resume if trials::score(&self.store, &trial.id, until).1 >= until => {
                    continue;
                }
                NextStep::Resume => None,
                NextStep::Start => {
                    let path = self.recipes.join(format!("{}.toml", trial.id));
                    write_atomic(&path, trial.recipe.to_toml().as_bytes())?;
                    Some(path)
                }
            };
            jobs.push(Job {
                id: trial.id.clone(),
                variant: format!("s{k}t{}", trial.index),
                seed: trial.recipe.seed,
                recipe,
                name: format!("{}/s{k}t{}", self.name, trial.index),
                args: if last_rung {
                    vec![]
                } else {
                    vec!["--until-epoch".to_string(), until.to_string()]
                },
            });
        }
        Ok(jobs)
    }
}

/// The stage's header: its trials, epochs, images, rungs and ranges.
fn print_stage(k: usize, stage: &Stage, trials: usize, params: &BTreeMap<String, Param>) {
    println!(
        "stage {k}: {trials} trials, {} epochs{}, rungs {:?}; ranges: {}",
        stage.epochs,
        stage
            .limit
            .map(|l| format!(" on {l} images"))
            .unwrap_or_default(),
        stage.rungs,
        params
            .iter()
            .map(|(k, p)| format!("{k} {}", p.describe()))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Runs one rung's jobs, a line for each that ends; Ctrl-C ends the search (the finished
/// trials are kept, the paused ones resume when it starts again).
fn run_rung(runner: &Runner<'_>, jobs: &[Job]) -> Result<()> {
    runner.run(jobs, &mut |e| match e.seconds {
        Some(seconds) => println!(
            "  [{}/{}] {}: {} in {:.0}s",
            e.done,
            e.total,
            e.job.variant,
            e.state.label(),
            seconds
        ),
        None => println!("  {}: {}", e.job.variant, e.state.label()),
    })?;
    if runner.stopped() {
        bail!(
            "interrupted; the finished trials are kept and the paused ones resume when the search starts again"
        );
    }
    Ok(())
}

/// The best trial's line: its stage, index, values, accuracies and recipe.
fn print_best(best: &Trial, s: &Search<'_>) {
    println!(
        "best trial: stage {} trial {} ({}): valid {:.2}%{}; recipe {}",
        best.stage,
        best.index,
        best.values
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        best.best_valid_acc.unwrap_or(f64::NAN),
        best.test_acc
            .map(|t| format!(", test {t:.2}%"))
            .unwrap_or_default(),
        s.dir.join("best.toml").display()
    );
}
