//! `ablate --dry-run`'s wall-time estimate: every distinct model of the plan is measured briefly
//! on this machine (`convlab bench --one` in a child process, with the threads a job gets and the
//! run's batch size: training and inference images/s on `train`'s path), then each run costs its
//! epochs × (training images ÷ training speed + validation images ÷ inference speed), plus its
//! test pass and start-up; the runs are laid out on `--jobs` slots in the order the executor
//! starts them. Measurements are cached per CPU, binary, backend and thread count in
//! `~/.cache/convlab/throughput.json`, so a second dry run answers at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::base::backend::Backend;
use crate::config::recipe::{DatasetKind, Recipe};
use crate::sweep::executor::{job_env, threads_per_job};
use crate::sweep::plan::PlannedRun;

/// Seconds a run spends outside its epochs: process start, data loading and normalisation
/// statistics, the model's first sanity check, checkpoints and the report (measured on
/// lenet-fashion: about 4 s of a run's wall time beyond its steps).
const RUN_OVERHEAD_S: f64 = 4.0;
/// Timed steps per measurement, after as many warm-up steps.
const STEPS: usize = 4;
const WARMUP: usize = 2;

/// One model's measured speed, images/s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Speed {
    pub train: f64,
    pub infer: f64,
}

/// The images one run sees: per epoch (training, validation) and once (test).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Images {
    pub train: usize,
    pub valid: usize,
    pub test: usize,
}

/// A suite's estimate.
#[derive(Debug, Clone)]
pub struct Estimate {
    /// Seconds of each run, in plan order (`None`: not estimated, e.g. a folder dataset).
    pub runs: Vec<Option<f64>>,
    /// Wall time of the whole plan on `jobs` slots (runs that are done count nothing).
    pub wall_s: f64,
    /// Models measured now, and read from the cache.
    pub measured: usize,
    pub cached: usize,
    pub threads: usize,
    pub jobs: usize,
}

/// How many images a run's recipe trains, validates and tests on, from the recipe alone (the
/// catalogue's split sizes, `data.limit`, `data.class_subset`, `data.valid_fraction`,
/// `data.test_limit`); `None` for a folder of the user's images.
pub fn images(recipe: &Recipe) -> Option<Images> {
    let d = &recipe.data;
    let (mut total, mut test) = match d.dataset {
        DatasetKind::Synthetic => (d.samples?, d.test_samples.unwrap_or(0)),
        DatasetKind::Folder => return None,
        kind => kind.catalog()?.split_sizes(),
    };
    if let (Some(subset), Some(name)) = (&d.class_subset, d.dataset.catalog()) {
        let classes = name.class_names().len().max(1);
        total = total * subset.len() / classes;
        test = test * subset.len() / classes;
    }
    if let Some(limit) = d.limit {
        total = total.min(limit);
    }
    if let Some(limit) = d.test_limit {
        test = test.min(limit);
    }
    let valid = (total as f64 * d.valid_fraction).round() as usize;
    Some(Images {
        train: total - valid.min(total),
        valid,
        test,
    })
}

/// Seconds of one run at `speed`.
pub fn run_seconds(recipe: &Recipe, images: Images, speed: Speed) -> f64 {
    let epochs = recipe.epochs.max(1) as f64;
    epochs * (images.train as f64 / speed.train + images.valid as f64 / speed.infer)
        + images.test as f64 / speed.infer
        + RUN_OVERHEAD_S
}

/// The makespan of `seconds` started in order on `jobs` slots (each run on the slot that frees
/// first, as the local executor does).
pub fn makespan(seconds: &[f64], jobs: usize) -> f64 {
    let mut slots = vec![0.0f64; jobs.max(1)];
    for &s in seconds {
        let first = slots
            .iter_mut()
            .min_by(|a, b| a.total_cmp(b))
            .expect("at least one slot");
        *first += s;
    }
    slots.into_iter().fold(0.0, f64::max)
}

/// What a cached measurement is keyed by: the machine, the binary, the backend, the threads,
/// the batch and the model.
fn key(cpu: &str, backend: Backend, threads: usize, batch: usize, spec: &str) -> String {
    format!(
        "{cpu} | {} | {backend} | {threads} threads | batch {batch} | {spec}",
        crate::record::rundir::RunInfo::binary()
    )
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn cache_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/convlab/throughput.json"))
}

fn read_cache(path: Option<&Path>) -> BTreeMap<String, Speed> {
    path.and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

fn write_cache(path: Option<&Path>, cache: &BTreeMap<String, Speed>) {
    let Some(path) = path else { return };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(text) = serde_json::to_string_pretty(cache) {
        // A cache: a failed write costs a re-measurement, nothing else.
        let _ = crate::record::rundir::write_atomic(path, text.as_bytes());
    }
}

/// Measures `spec` (a model config as JSON) in a child `convlab bench --one`.
fn measure(
    exe: &Path,
    backend: Backend,
    threads: usize,
    batch: usize,
    spec: &str,
) -> Result<Speed> {
    let out = std::process::Command::new(exe)
        .args(["bench", "--one", spec, "--backend", backend.name()])
        .args(["--batch", &batch.to_string()])
        .args([
            "--steps",
            &STEPS.to_string(),
            "--warmup",
            &WARMUP.to_string(),
        ])
        .envs(job_env(threads))
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| anyhow!("no measurement printed"))?;
    // The two fields of `convlab bench --json`'s row this estimate reads (perf sits above
    // sweep, so its type is not used here).
    #[derive(Deserialize)]
    struct Row {
        train_images_per_s: f64,
        infer_images_per_s: f64,
    }
    let row: Row = serde_json::from_str(line)?;
    Ok(Speed {
        train: row.train_images_per_s,
        infer: row.infer_images_per_s,
    })
}

/// Estimates the plan's wall time on this machine with `jobs` runs at once; `done` says which
/// runs are finished already (they cost nothing).
pub fn estimate(
    runs: &[PlannedRun],
    done: &dyn Fn(&PlannedRun) -> bool,
    exe: &Path,
    backend: Backend,
    jobs: usize,
) -> Result<Estimate> {
    let threads = threads_per_job(jobs);
    let cpu = cpu_model();
    let path = cache_path();
    let mut cache = read_cache(path.as_deref());
    let (mut measured, mut cached) = (0, 0);
    let mut speeds: BTreeMap<String, Speed> = BTreeMap::new();
    let mut seconds = Vec::with_capacity(runs.len());
    let started = Instant::now();
    for r in runs {
        let Some(images) = images(&r.recipe) else {
            seconds.push(None);
            continue;
        };
        let cfg = r
            .recipe
            .model_config()
            .with_context(|| format!("variant `{}`", r.variant))?;
        let spec = serde_json::to_string(&cfg)?;
        let k = key(&cpu, backend, threads, r.recipe.batch_size, &spec);
        let speed = match speeds.get(&k).or_else(|| cache.get(&k)) {
            Some(s) => {
                if !speeds.contains_key(&k) {
                    cached += 1;
                }
                *s
            }
            None => {
                eprintln!(
                    "estimating: measuring {} ({}, batch {}, {threads} thread{}) …",
                    r.variant,
                    cfg.arch,
                    r.recipe.batch_size,
                    if threads == 1 { "" } else { "s" }
                );
                let s = measure(exe, backend, threads, r.recipe.batch_size, &spec)
                    .with_context(|| format!("measuring variant `{}`", r.variant))?;
                measured += 1;
                cache.insert(k.clone(), s);
                s
            }
        };
        speeds.insert(k, speed);
        seconds.push(Some(run_seconds(&r.recipe, images, speed)));
    }
    if measured > 0 {
        write_cache(path.as_deref(), &cache);
        eprintln!(
            "estimating: {measured} model(s) measured in {:.0} s, {cached} from {}",
            started.elapsed().as_secs_f64(),
            path.as_deref()
                .map_or("the cache".into(), |p| p.display().to_string())
        );
    }
    let todo: Vec<f64> = runs
        .iter()
        .zip(&seconds)
        .filter(|(r, _)| !done(r))
        .filter_map(|(_, s)| *s)
        .collect();
    Ok(Estimate {
        wall_s: makespan(&todo, jobs),
        runs: seconds,
        measured,
        cached,
        threads,
        jobs,
    })
}

/// `1 h 23 min`, `12 min`, `45 s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", (s + 30) / 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600 + 30) / 60),
    }
}
