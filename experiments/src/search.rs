//! `convlab search`: random search over a space of recipe keys (log-uniform, uniform, integer or
//! a choice), staged from coarse to fine, with successive halving inside each stage.
//!
//! ```toml
//! seed = 0
//! [params."optimizer.lr"]
//! kind = "log-uniform"
//! low = 1e-3
//! high = 1.0
//! [params."optimizer.weight_decay"]
//! kind = "log-uniform"
//! low = 1e-6
//! high = 1e-2
//!
//! [[stages]]             # coarse: wide ranges, a short budget
//! trials = 16
//! epochs = 2
//! limit = 10000          # training images (optional)
//! rungs = [1]            # successive halving: compared after epoch 1, the best 1/eta go on
//! eta = 2
//! [[stages]]             # fine: ranges shrunk around the best `top` trials of the stage before
//! trials = 6
//! epochs = 5
//! top = 3
//! ```
//!
//! Every trial is an ordinary run in `<out>/<name>/runs/<id>`, its id the hash of its resolved
//! recipe; sampling is seeded, so a search started again plans the same trials, finds the runs
//! it has, resumes paused ones and re-runs nothing. A failed trial is recorded, not fatal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::ablate::ExecutorKind;
use crate::backend::Backend;
use crate::executor::{self, Job, JobContext};
use crate::recipe::Recipe;
use crate::rundir::{RunDir, write_atomic};
use crate::runstore::{RunState, RunStore};

/// How one key is sampled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Param {
    LogUniform { low: f64, high: f64 },
    Uniform { low: f64, high: f64 },
    Int { low: i64, high: i64 },
    Choice { values: Vec<toml::Value> },
}

impl Param {
    fn check(&self) -> Result<(), String> {
        match self {
            Param::LogUniform { low, high } if !(*low > 0.0 && low < high && high.is_finite()) => {
                Err(format!(
                    "log-uniform needs 0 < low < high, got {low} … {high}"
                ))
            }
            Param::Uniform { low, high }
                if !(low < high && low.is_finite() && high.is_finite()) =>
            {
                Err(format!("uniform needs low < high, got {low} … {high}"))
            }
            Param::Int { low, high } if low > high => {
                Err(format!("int needs low ≤ high, got {low} … {high}"))
            }
            Param::Choice { values } if values.is_empty() => {
                Err("choice needs at least one value".into())
            }
            _ => Ok(()),
        }
    }

    fn sample(&self, rng: &mut impl Rng) -> toml::Value {
        match self {
            Param::LogUniform { low, high } => {
                let (a, b) = (low.ln(), high.ln());
                toml::Value::Float(round_sig((a + (b - a) * rng.random::<f64>()).exp()))
            }
            Param::Uniform { low, high } => {
                toml::Value::Float(round_sig(low + (high - low) * rng.random::<f64>()))
            }
            Param::Int { low, high } => toml::Value::Integer(rng.random_range(*low..=*high)),
            Param::Choice { values } => values[rng.random_range(0..values.len())].clone(),
        }
    }

    /// The range narrowed around `best` (values this parameter took in the best trials):
    /// their span widened by half of itself on each side (at least a tenth of the old range),
    /// within the old range; a choice keeps the values the best trials took.
    fn shrink(&self, best: &[toml::Value]) -> Param {
        let floats: Vec<f64> = best
            .iter()
            .filter_map(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
            .collect();
        let narrow = |lo: f64, hi: f64, f: &dyn Fn(f64) -> f64| -> (f64, f64) {
            let t: Vec<f64> = floats.iter().map(|v| f(*v)).collect();
            let (a, b) = t
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            let pad = ((b - a) * 0.5).max((f(hi) - f(lo)) * 0.1);
            ((a - pad).max(f(lo)), (b + pad).min(f(hi)))
        };
        if floats.is_empty() && !matches!(self, Param::Choice { .. }) {
            return self.clone();
        }
        match self {
            Param::LogUniform { low, high } => {
                let (a, b) = narrow(*low, *high, &|v: f64| v.ln());
                Param::LogUniform {
                    low: round_sig(a.exp()),
                    high: round_sig(b.exp()),
                }
            }
            Param::Uniform { low, high } => {
                let (a, b) = narrow(*low, *high, &|v| v);
                Param::Uniform {
                    low: round_sig(a),
                    high: round_sig(b),
                }
            }
            Param::Int { low, high } => {
                let (a, b) = narrow(*low as f64, *high as f64, &|v| v);
                Param::Int {
                    low: a.floor() as i64,
                    high: b.ceil() as i64,
                }
            }
            Param::Choice { values } => {
                let kept: Vec<toml::Value> = values
                    .iter()
                    .filter(|v| best.contains(v))
                    .cloned()
                    .collect();
                Param::Choice {
                    values: if kept.is_empty() {
                        values.clone()
                    } else {
                        kept
                    },
                }
            }
        }
    }

    fn log(&self) -> bool {
        matches!(self, Param::LogUniform { .. })
    }
}

/// Four significant digits: recipes stay readable and a value prints as it is stored.
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let d = 3 - v.abs().log10().floor() as i32;
    let m = 10f64.powi(d);
    (v * m).round() / m
}

/// One stage of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub trials: usize,
    pub epochs: usize,
    /// Training images (before the validation split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Epochs after which the trials still running are compared (best validation accuracy so
    /// far) and only the best 1/`eta` go on.
    #[serde(default)]
    pub rungs: Vec<usize>,
    #[serde(default = "default_eta")]
    pub eta: f64,
    /// The next stage's ranges shrink around this many of this stage's best trials.
    #[serde(default = "default_top")]
    pub top: usize,
    /// Further overrides for this stage's trials.
    #[serde(default)]
    pub set: toml::Table,
}

fn default_eta() -> f64 {
    2.0
}
fn default_top() -> usize {
    3
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Space {
    #[serde(default)]
    pub seed: u64,
    pub params: BTreeMap<String, Param>,
    pub stages: Vec<Stage>,
}

impl Space {
    pub fn load(path: &Path) -> Result<Space> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the search space {}", path.display()))?;
        Self::parse(&path.display().to_string(), &text)
    }

    pub fn parse(name: &str, text: &str) -> Result<Space> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("{name}: TOML syntax: {e}"))?;
        let space: Space = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| anyhow::anyhow!("{name}: `{}`: {}", e.path(), e.inner()))?;
        if space.params.is_empty() {
            bail!("{name}: `params`: name at least one recipe key to search");
        }
        for (k, p) in &space.params {
            p.check()
                .map_err(|m| anyhow::anyhow!("{name}: `params.{k}`: {m}"))?;
        }
        if space.stages.is_empty() {
            bail!("{name}: `stages`: give at least one stage");
        }
        for (i, s) in space.stages.iter().enumerate() {
            if s.trials == 0 || s.epochs == 0 {
                bail!("{name}: `stages[{i}]`: trials and epochs must be at least 1");
            }
            if let Some(r) = s.rungs.iter().find(|&&r| r == 0 || r >= s.epochs) {
                bail!(
                    "{name}: `stages[{i}].rungs`: {r} is not between 1 and the stage's {} epochs",
                    s.epochs
                );
            }
            if s.rungs.windows(2).any(|w| w[0] >= w[1]) {
                bail!("{name}: `stages[{i}].rungs`: must increase");
            }
            if s.eta.is_nan() || s.eta <= 1.0 {
                bail!("{name}: `stages[{i}].eta`: must be more than 1");
            }
            if s.top == 0 {
                bail!("{name}: `stages[{i}].top`: must be at least 1");
            }
        }
        Ok(space)
    }
}

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

/// One trial of a search, as `trials.csv` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    pub stage: usize,
    pub index: usize,
    pub id: String,
    pub values: BTreeMap<String, toml::Value>,
    /// `done`, `halved at epoch N`, `failed: …`, or `pending`.
    pub status: String,
    pub epochs: usize,
    pub budget_epochs: usize,
    pub best_valid_acc: Option<f64>,
    pub test_acc: Option<f64>,
    pub recipe: Recipe,
}

/// The trials of stage `k` (sampled from `space`, seeded by the search's seed and the stage).
fn sample_stage(
    base: &str,
    params: &BTreeMap<String, Param>,
    stage: &Stage,
    k: usize,
    trials: usize,
    seed: u64,
    name: &str,
) -> Result<Vec<Trial>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(
        seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (k as u64 + 1),
    );
    let mut out = vec![];
    for i in 0..trials {
        let values: BTreeMap<String, toml::Value> = params
            .iter()
            .map(|(key, p)| (key.clone(), p.sample(&mut rng)))
            .collect();
        let mut o = crate::suite::overrides(&stage.set);
        o.push(format!("epochs={}", stage.epochs));
        if let Some(l) = stage.limit {
            o.push(format!("data.limit={l}"));
        }
        o.extend(values.iter().map(|(key, v)| format!("{key}={v}")));
        let mut recipe = crate::plan::load_with(base, &o)
            .with_context(|| format!("stage {k} trial {i}: {}", o.join(" ")))?;
        recipe.name = format!("{name}-s{k}");
        out.push(Trial {
            stage: k,
            index: i,
            id: crate::plan::run_id(&recipe),
            values,
            status: "pending".into(),
            epochs: 0,
            budget_epochs: stage.epochs,
            best_valid_acc: None,
            test_acc: None,
            recipe,
        });
    }
    Ok(out)
}

/// Best validation accuracy of a run up to `epoch`, and the epochs it has.
fn score(store: &RunStore, id: &str, epoch: usize) -> (Option<f64>, usize) {
    let Ok(run) = RunDir::open(&store.dir(id)) else {
        return (None, 0);
    };
    let rows = run.metrics().unwrap_or_default();
    let best = rows
        .iter()
        .filter(|r| r.epoch <= epoch && r.valid_acc.is_finite())
        .map(|r| r.valid_acc)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    (best, rows.last().map_or(0, |r| r.epoch))
}

/// Runs `jobs` with the chosen executor and waits for them.
fn execute(
    opts: &SearchOptions,
    ctx: &JobContext,
    store: &RunStore,
    jobs: &[Job],
    dir: &Path,
    stop: &Arc<AtomicBool>,
) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    match opts.executor {
        ExecutorKind::Local => {
            let total = jobs.len();
            let mut done = 0;
            executor::run_local(ctx, store, jobs, opts.jobs, stop, &mut |f| {
                done += 1;
                println!(
                    "  [{done}/{total}] {}: {} in {:.0}s",
                    f.job.variant,
                    f.state.label(),
                    f.seconds
                );
            })
        }
        ExecutorKind::Slurm => {
            executor::run_slurm(ctx, store, jobs, dir, opts.jobs, stop, &mut |j, state| {
                println!("  {}: {}", j.variant, state.label());
            })
        }
    }
}

/// Runs (or resumes) a search; returns its directory.
pub fn search(opts: &SearchOptions) -> Result<PathBuf> {
    let started = Instant::now();
    let space = Space::load(&opts.space)?;
    let base = Recipe::load(&opts.recipe, &[])?;
    let name = opts.name.clone().unwrap_or_else(|| {
        let stem = opts
            .space
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "space".into());
        format!("{}-{stem}", base.name)
    });
    let dir = opts.out.join(&name);
    let store = RunStore::new(&opts.out, &name);
    std::fs::create_dir_all(store.root())?;
    let recipes = dir.join("recipes");
    std::fs::create_dir_all(&recipes)?;
    let ctx = JobContext::sharing_cores(
        opts.exe.clone(),
        opts.backend,
        opts.data_dir.clone(),
        opts.jobs,
    );
    let stop = crate::ablate::stop_flag();
    let stages = opts
        .stages
        .unwrap_or(space.stages.len())
        .min(space.stages.len());
    if stages == 0 {
        bail!("--stages 0: nothing to run");
    }
    let mut params = space.params.clone();
    let mut all: Vec<Trial> = vec![];
    for (k, stage) in space.stages.iter().take(stages).enumerate() {
        let trials_n = match (k, opts.trials) {
            (0, Some(n)) if n > 0 => n,
            _ => stage.trials,
        };
        let mut trials =
            sample_stage(&opts.recipe, &params, stage, k, trials_n, space.seed, &name)?;
        println!(
            "stage {k}: {} trials, {} epochs{}, rungs {:?}; ranges: {}",
            trials.len(),
            stage.epochs,
            stage
                .limit
                .map(|l| format!(" on {l} images"))
                .unwrap_or_default(),
            stage.rungs,
            params
                .iter()
                .map(|(k, p)| format!("{k} {}", describe(p)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut alive: Vec<usize> = (0..trials.len()).collect();
        let rungs: Vec<usize> = stage.rungs.iter().copied().chain([stage.epochs]).collect();
        for (r, &until) in rungs.iter().enumerate() {
            let last_rung = r + 1 == rungs.len();
            let mut jobs = vec![];
            for &t in &alive {
                let trial = &mut trials[t];
                let args = if last_rung {
                    vec![]
                } else {
                    vec!["--until-epoch".to_string(), until.to_string()]
                };
                let job = |recipe: Option<PathBuf>| Job {
                    id: trial.id.clone(),
                    variant: format!("s{k}t{}", trial.index),
                    seed: trial.recipe.seed,
                    recipe,
                    name: format!("{name}/s{k}t{}", trial.index),
                    args: args.clone(),
                };
                let path = recipes.join(format!("{}.toml", trial.id));
                match store.state(&trial.id) {
                    RunState::Done => {}
                    RunState::Failed(why) if !opts.retry_failed => {
                        trial.status = format!("failed: {why}");
                    }
                    RunState::Interrupted => {
                        if score(&store, &trial.id, until).1 < until {
                            jobs.push(job(None));
                        }
                    }
                    state => {
                        if matches!(state, RunState::Incomplete | RunState::Failed(_)) {
                            store.set_aside(&trial.id, state.label())?;
                        }
                        write_atomic(&path, trial.recipe.to_toml().as_bytes())?;
                        jobs.push(job(Some(path)));
                    }
                }
            }
            println!(
                "stage {k}, up to epoch {until}: {} trials, {} to run",
                alive.len(),
                jobs.len()
            );
            execute(opts, &ctx, &store, &jobs, &dir.join("slurm"), &stop)?;
            if stop.load(Ordering::SeqCst) {
                bail!(
                    "interrupted; the finished trials are kept and the paused ones resume when the search starts again"
                );
            }
            // Score the trials at this rung; the failed ones drop out.
            let mut scored: Vec<(usize, f64)> = vec![];
            for &t in &alive {
                let trial = &mut trials[t];
                let (best, epochs) = score(&store, &trial.id, until);
                trial.epochs = epochs;
                trial.best_valid_acc = best;
                match (store.state(&trial.id), best) {
                    (RunState::Failed(why), _) => trial.status = format!("failed: {why}"),
                    (_, Some(b)) if epochs >= until || last_rung => scored.push((t, b)),
                    (RunState::Done, Some(b)) => scored.push((t, b)), // stopped early
                    (s, _) => trial.status = format!("failed: {} at epoch {epochs}", s.label()),
                }
            }
            scored.sort_by(|a, b| b.1.total_cmp(&a.1));
            if last_rung {
                for &(t, _) in &scored {
                    trials[t].status = "done".into();
                }
            } else {
                let keep = ((scored.len() as f64 / stage.eta).ceil() as usize).max(1);
                for &(t, _) in scored.iter().skip(keep) {
                    trials[t].status = format!("halved at epoch {until}");
                }
                alive = scored.iter().take(keep).map(|&(t, _)| t).collect();
            }
        }
        for t in &mut trials {
            if t.status == "done" {
                t.test_acc = RunDir::open(&store.dir(&t.id))
                    .and_then(|r| r.summary())
                    .ok()
                    .and_then(|s| s.test.map(|e| e.top1));
            }
        }
        // The next stage's ranges: around this stage's best finished trials.
        let mut ranked: Vec<&Trial> = trials
            .iter()
            .filter(|t| t.status == "done" && t.best_valid_acc.is_some())
            .collect();
        ranked.sort_by(|a, b| {
            b.best_valid_acc
                .unwrap_or(0.0)
                .total_cmp(&a.best_valid_acc.unwrap_or(0.0))
        });
        if ranked.is_empty() {
            all.extend(trials);
            write_results(&dir, &name, opts, &space, &all, &base)?;
            bail!(
                "stage {k}: no trial finished; see {}",
                dir.join("trials.csv").display()
            );
        }
        let best: Vec<&Trial> = ranked.into_iter().take(stage.top).collect();
        params = params
            .iter()
            .map(|(key, p)| {
                let v: Vec<toml::Value> = best.iter().map(|t| t.values[key].clone()).collect();
                (key.clone(), p.shrink(&v))
            })
            .collect();
        all.extend(trials);
    }
    let best = write_results(&dir, &name, opts, &space, &all, &base)?;
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
        dir.join("best.toml").display()
    );
    println!(
        "search {}: {} trials in {:.0} s; trials.csv and search.png in {}",
        name,
        all.len(),
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(dir)
}

fn describe(p: &Param) -> String {
    match p {
        Param::LogUniform { low, high } => format!("log [{low}, {high}]"),
        Param::Uniform { low, high } => format!("[{low}, {high}]"),
        Param::Int { low, high } => format!("int [{low}, {high}]"),
        Param::Choice { values } => format!(
            "{{{}}}",
            values
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The best finished trial: of the last stage that finished any, the highest validation
/// accuracy.
pub fn best_trial(trials: &[Trial]) -> Option<&Trial> {
    let last = trials
        .iter()
        .filter(|t| t.status == "done")
        .map(|t| t.stage)
        .max()?;
    trials
        .iter()
        .filter(|t| t.stage == last && t.status == "done")
        .max_by(|a, b| {
            a.best_valid_acc
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&b.best_valid_acc.unwrap_or(f64::NEG_INFINITY))
        })
}

/// `trials.csv`, `search.png`, `best.toml` and `search.json`.
fn write_results<'a>(
    dir: &Path,
    name: &str,
    opts: &SearchOptions,
    space: &Space,
    trials: &'a [Trial],
    base: &Recipe,
) -> Result<&'a Trial> {
    let keys: Vec<&String> = space.params.keys().collect();
    let mut w = csv::Writer::from_writer(vec![]);
    let mut header = vec!["stage", "trial", "run_id"];
    header.extend(keys.iter().map(|k| k.as_str()));
    header.extend([
        "status",
        "epochs",
        "budget_epochs",
        "best_valid_acc",
        "test_acc",
    ]);
    w.write_record(&header)?;
    for t in trials {
        let mut row = vec![t.stage.to_string(), t.index.to_string(), t.id.clone()];
        row.extend(keys.iter().map(|k| plain(&t.values[*k])));
        row.extend([
            t.status.clone(),
            t.epochs.to_string(),
            t.budget_epochs.to_string(),
            t.best_valid_acc
                .map_or(String::new(), |v| format!("{v:.4}")),
            t.test_acc.map_or(String::new(), |v| format!("{v:.4}")),
        ]);
        w.write_record(&row)?;
    }
    write_atomic(&dir.join("trials.csv"), &w.into_inner()?)?;
    write_atomic(
        &dir.join("search.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "name": name,
            "recipe": opts.recipe,
            "command": opts.command,
            "space": space,
            "trials": trials.len(),
        }))?
        .as_bytes(),
    )?;
    let panels: Vec<crate::plot::ScatterPanel> = keys
        .iter()
        .map(|k| crate::plot::ScatterPanel {
            title: (*k).clone(),
            x_label: (*k).clone(),
            y_label: "best validation accuracy %".into(),
            log_x: space.params[*k].log(),
            groups: (0..=trials.iter().map(|t| t.stage).max().unwrap_or(0))
                .map(|s| {
                    (
                        format!("stage {s}"),
                        trials
                            .iter()
                            .filter(|t| t.stage == s)
                            .filter_map(|t| {
                                let x = t.values[*k]
                                    .as_float()
                                    .or_else(|| t.values[*k].as_integer().map(|i| i as f64))?;
                                Some((x, t.best_valid_acc?, t.status == "done"))
                            })
                            .collect(),
                    )
                })
                .collect(),
        })
        .collect();
    crate::plot::scatter(
        &dir.join("search.png"),
        &panels,
        (560 * keys.len() as u32 + 80, 500),
    )?;
    let best = best_trial(trials).ok_or_else(|| anyhow::anyhow!("no trial finished"))?;
    // The best values as a recipe extending the base: nested tables, ready for `train`.
    let mut table = toml::Table::new();
    table.insert(
        "extends".into(),
        toml::Value::String(match Path::new(&opts.recipe) {
            p if p.is_file() => std::fs::canonicalize(p)?.display().to_string(),
            _ => opts.recipe.clone(),
        }),
    );
    table.insert(
        "description".into(),
        toml::Value::String(format!(
            "{} with the best values of search `{name}` (stage {} trial {}, valid {:.2}%)",
            base.name,
            best.stage,
            best.index,
            best.best_valid_acc.unwrap_or(f64::NAN)
        )),
    );
    crate::plan::apply(
        &mut table,
        &best
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
    )?;
    let text = format!(
        "# Written by `{}`; train it with `convlab train {}`.\n{}",
        opts.command,
        dir.join("best.toml").display(),
        toml::to_string(&table)?
    );
    write_atomic(&dir.join("best.toml"), text.as_bytes())?;
    Ok(best)
}

/// A TOML value as a CSV cell (strings without quotes).
fn plain(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
