//! Executors decide where a suite's runs execute, never what they compute: each run is one
//! `convlab train` process (Burn's device generator is process-wide, so runs that share a
//! process are not reproducible). `local` runs J at once on this machine, sharing its cores;
//! `slurm` submits one job array whose tasks each run one line of a manifest. These are the
//! pieces; [`crate::sweep::runner`] puts them together for a sweep.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::base::backend::Backend;
use crate::sweep::runstore::{RunState, RunStore};

/// One `convlab train` to carry out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub variant: String,
    pub seed: u64,
    /// The resolved recipe (a new run) — absent when the run resumes.
    pub recipe: Option<PathBuf>,
    /// The run's name (suite and variant).
    pub name: String,
    /// More `convlab train` flags (e.g. `--until-epoch 2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// What every job shares.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The `convlab` binary.
    pub exe: PathBuf,
    pub backend: Backend,
    pub data_dir: Option<PathBuf>,
    /// Threads each run may use (rayon and OpenMP).
    pub threads: usize,
}

impl JobContext {
    /// `jobs` runs at once sharing this machine's cores: each gets cores / jobs threads.
    pub fn sharing_cores(
        exe: PathBuf,
        backend: Backend,
        data_dir: Option<PathBuf>,
        jobs: usize,
    ) -> Self {
        Self {
            exe,
            backend,
            data_dir,
            threads: threads_per_job(jobs),
        }
    }

    /// The command line of `job`, writing into `store`.
    pub fn command(&self, store: &RunStore, job: &Job) -> Vec<String> {
        let mut c = vec![self.exe.display().to_string(), "train".into()];
        match &job.recipe {
            Some(recipe) => c.extend([
                recipe.display().to_string(),
                "--run-dir".into(),
                store.dir(&job.id).display().to_string(),
                "--name".into(),
                job.name.clone(),
                "--backend".into(),
                self.backend.name().into(),
            ]),
            None => c.extend(["--resume".into(), store.dir(&job.id).display().to_string()]),
        }
        c.extend(["--no-tui".into(), "--no-fetch".into()]);
        c.extend(job.args.iter().cloned());
        if let Some(d) = &self.data_dir {
            c.extend(["--data-dir".into(), d.display().to_string()]);
        }
        c
    }

    fn env(&self) -> [(&'static str, String); 4] {
        job_env(self.threads)
    }
}

/// Threads each of `jobs` runs at once gets on this machine: cores / jobs, at least one.
pub fn threads_per_job(jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / jobs.max(1)).max(1)
}

/// The environment a child `convlab` runs with when it gets `threads` threads: rayon's and
/// OpenMP's thread counts, OpenMP workers that sleep between calls, freed pages kept.
pub fn job_env(threads: usize) -> [(&'static str, String); 4] {
    let t = threads.max(1).to_string();
    [
        ("RAYON_NUM_THREADS", t.clone()),
        ("OMP_NUM_THREADS", t),
        ("OMP_WAIT_POLICY", "passive".into()),
        ("MIMALLOC_PURGE_DELAY", "-1".into()),
    ]
}

/// A finished job, as [`run_local`] hands it on.
pub struct Finished<'a> {
    pub job: &'a Job,
    pub state: RunState,
    pub seconds: f64,
}

/// Starts `job`'s `convlab train`, its output appended to the run's log.
fn spawn(ctx: &JobContext, store: &RunStore, job: &Job) -> Result<Child> {
    let cmd = ctx.command(store, job);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(store.log(&job.id))
        .with_context(|| format!("opening {}", store.log(&job.id).display()))?;
    let mut command = Command::new(&cmd[0]);
    command
        .args(&cmd[1..])
        .envs(ctx.env())
        // The run stops when this process is gone (even killed with -9): see
        // `run::learner::PARENT_ENV`.
        .env(
            crate::run::learner::PARENT_ENV,
            std::process::id().to_string(),
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    #[cfg(unix)]
    {
        // Its own process group: a terminal's Ctrl-C reaches the children only through this
        // process, once.
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    command
        .spawn()
        .with_context(|| format!("starting {}", cmd[0]))
}

/// Runs jobs on this machine, `jobs` at once, until all are done or `stop` is set (Ctrl-C:
/// every running child gets SIGINT once, stops after its current batch, keeps its last
/// checkpoint; the next invocation resumes it).
pub fn run_local(
    ctx: &JobContext,
    store: &RunStore,
    jobs: &[Job],
    parallel: usize,
    stop: &Arc<AtomicBool>,
    on_finish: &mut dyn FnMut(Finished<'_>),
) -> Result<()> {
    std::fs::create_dir_all(store.root())?;
    let mut queue = jobs.iter();
    let mut running: Vec<(&Job, Child, Instant)> = vec![];
    let mut forwarded = false;
    loop {
        while running.len() < parallel.max(1) && !stop.load(Ordering::SeqCst) {
            let Some(job) = queue.next() else { break };
            running.push((job, spawn(ctx, store, job)?, Instant::now()));
        }
        if running.is_empty() {
            break;
        }
        if stop.load(Ordering::SeqCst) && !forwarded {
            forwarded = true;
            for (_, child, _) in &running {
                let _ = Command::new("kill")
                    .args(["-INT", &child.id().to_string()])
                    .status();
            }
        }
        let mut i = 0;
        while i < running.len() {
            match running[i].1.try_wait()? {
                Some(status) => {
                    let (job, _, started) = running.swap_remove(i);
                    let mut state = store.state(&job.id);
                    if !status.success()
                        && !stop.load(Ordering::SeqCst)
                        && !matches!(state, RunState::Done | RunState::Failed(_))
                    {
                        store.record_failure(&job.id, status.code())?;
                        state = store.state(&job.id);
                    }
                    on_finish(Finished {
                        job,
                        state,
                        seconds: started.elapsed().as_secs_f64(),
                    });
                }
                None => i += 1,
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The Slurm job array of a suite: its manifest (one command per line) and task script.
pub struct SlurmArray {
    pub dir: PathBuf,
    pub manifest: PathBuf,
    pub script: PathBuf,
}

fn quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Writes the manifest and task script under `dir`: task `i` runs line `i + 1`, appending its
/// output to the run's log and its exit code to `<id>.exit`.
pub fn write_slurm_array(
    ctx: &JobContext,
    store: &RunStore,
    jobs: &[Job],
    dir: &Path,
) -> Result<SlurmArray> {
    std::fs::create_dir_all(dir)?;
    std::fs::create_dir_all(store.root())?;
    let mut manifest = String::new();
    for job in jobs {
        let cmd: Vec<String> = ctx.command(store, job).iter().map(|a| quote(a)).collect();
        let env: Vec<String> = ctx
            .env()
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        let log = quote(&store.log(&job.id).display().to_string());
        let exit_path = store.root().join(format!("{}.exit", job.id));
        // An exit code of an earlier attempt would read as this one's.
        let _ = std::fs::remove_file(&exit_path);
        let exit = quote(&exit_path.display().to_string());
        manifest.push_str(&format!(
            "{} {} >> {log} 2>&1; echo $? > {exit}\n",
            env.join(" "),
            cmd.join(" ")
        ));
    }
    let manifest_path = dir.join("manifest.txt");
    crate::record::rundir::write_atomic(&manifest_path, manifest.as_bytes())?;
    let script = dir.join("task.sh");
    let text = format!(
        "#!/usr/bin/env bash\n\
         # One task of a convlab ablation suite: runs line SLURM_ARRAY_TASK_ID + 1 of the manifest.\n\
         set -u\n\
         line=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {})\n\
         exec bash -c \"$line\"\n",
        quote(&manifest_path.display().to_string())
    );
    crate::record::rundir::write_atomic(&script, text.as_bytes())?;
    Ok(SlurmArray {
        dir: dir.to_path_buf(),
        manifest: manifest_path,
        script,
    })
}

/// Submits the array (`sbatch --array=0-(n-1)%cap`) and returns the job id.
pub fn submit_slurm(array: &SlurmArray, tasks: usize, cap: usize) -> Result<String> {
    if tasks == 0 {
        bail!("nothing to submit");
    }
    let cwd = std::env::current_dir()?;
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(format!("--array=0-{}%{}", tasks - 1, cap.max(1)))
        .arg(format!("--chdir={}", cwd.display()))
        .arg(format!("--output={}/%A_%a.out", array.dir.display()))
        .arg("--cpus-per-task=1")
        .arg("--job-name=convlab-ablate")
        .arg("--export=ALL")
        .arg(&array.script)
        .output()
        .context("running sbatch (is Slurm installed and up? scripts/slurm-one-node.sh up)")?;
    if !out.status.success() {
        bail!(
            "sbatch failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let id = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    if id.is_empty() {
        bail!("sbatch printed no job id");
    }
    Ok(id)
}

/// Whether any task of a Slurm job is still queued or running.
pub fn slurm_active(job: &str) -> Result<bool> {
    let out = Command::new("squeue")
        .args(["-h", "-j", job, "-o", "%i"])
        .output()
        .context("running squeue")?;
    Ok(!String::from_utf8_lossy(&out.stdout).trim().is_empty())
}

/// The exit code a Slurm task recorded for a run, if it has finished.
pub fn slurm_exit(store: &RunStore, id: &str) -> Option<i32> {
    std::fs::read_to_string(store.root().join(format!("{id}.exit")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Waits for Slurm job `id` (the array of `jobs`), reporting each task as it ends; on
/// Ctrl-C cancels the array. A task that ended without leaving a finished, failed or
/// resumable run is recorded as failed with its exit code.
pub fn wait_slurm(
    id: &str,
    store: &RunStore,
    jobs: &[Job],
    stop: &Arc<AtomicBool>,
    on_finish: &mut dyn FnMut(&Job, RunState),
) -> Result<()> {
    let mut reported = std::collections::BTreeSet::new();
    while slurm_active(id)? {
        std::thread::sleep(Duration::from_secs(2));
        for j in jobs {
            if !reported.contains(&j.id) && slurm_exit(store, &j.id).is_some() {
                reported.insert(j.id.clone());
                on_finish(j, store.state(&j.id));
            }
        }
        if stop.load(Ordering::SeqCst) {
            let _ = Command::new("scancel").arg(id).status();
            bail!("interrupted: cancelled Slurm job {id}; start again to resume");
        }
    }
    for j in jobs {
        let code = slurm_exit(store, &j.id);
        if code != Some(0)
            && !matches!(
                store.state(&j.id),
                RunState::Done | RunState::Failed(_) | RunState::Interrupted
            )
        {
            store.record_failure(&j.id, code)?;
        }
        if !reported.contains(&j.id) {
            on_finish(j, store.state(&j.id));
        }
    }
    Ok(())
}
