//! Issue 21's fault injection: `train`, `ablate` and `search` killed with -9 at points drawn
//! from a fixed seed (fractions of an uninterrupted run's wall time, so the points scale with
//! the machine), then continued as a user would. Every case ends in the uninterrupted run's
//! numbers, or in a clear error that says what to do (which the test then does); no output of
//! any process, killed or not, holds `panicked`.

use super::*;
use convlab_experiments::record::rundir::{EpochRow, RunDir};
use convlab_experiments::sweep::wall::WallTime;

/// SplitMix64 fractions in [0.05, 0.95): the kill points, replayable from the seed.
fn fractions(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            0.05 + 0.9 * (z >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// `convlab args` killed with SIGKILL after `delay` (or finished before it); its output.
fn killed(args: &[&str], delay: Duration, log: &Path) -> String {
    let file = std::fs::File::create(log).unwrap();
    let mut child = Command::new(EXE)
        .args(args)
        .env("BURN_DEVICE", "flex")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    child.wait().unwrap();
    std::fs::read_to_string(log).unwrap()
}

fn refs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

/// `convlab args`, its output and whether it succeeded.
fn attempt(args: &[&str]) -> (bool, String) {
    let o = convlab(args);
    (o.status.success(), text(&o))
}

fn no_panic(what: &str, output: &str) {
    assert!(!output.contains("panicked"), "{what}:\n{output}");
}

/// Every run directory (a `run.json` or a lock inside) under `dir`.
fn run_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut found = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.join("run.json").exists() || p.join(".lock").exists() {
                    found.push(p.clone());
                }
                stack.push(p);
            }
        }
    }
    found.sort();
    found
}

/// Waits until no process writes a run under `dir` (a killed sweep's runs stop after their
/// current batch).
fn wait_for_writers(dir: &Path) {
    let start = Instant::now();
    while run_dirs(dir).iter().any(|r| RunDir::writer(r).is_some()) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "a run of {} never stopped",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A run's history without its timings (images/s and seconds differ from run to run), as
/// text: every value to the last bit, and NaN (top-5 of few classes) equal to itself.
fn history(run: &Path) -> Vec<String> {
    RunDir::open(run)
        .unwrap()
        .metrics()
        .unwrap()
        .into_iter()
        .map(|r| {
            format!(
                "{:?}",
                EpochRow {
                    images_per_s: 0.0,
                    epoch_s: 0.0,
                    ..r
                }
            )
        })
        .collect()
}

/// A column of a CSV file, by header name.
fn csv_column(path: &Path, name: &str) -> Vec<String> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let at = r.headers().unwrap().iter().position(|h| h == name).unwrap();
    r.records().map(|x| x.unwrap()[at].to_string()).collect()
}

const TRAIN: [&str; 6] = [
    "--epochs",
    "4",
    "--set",
    "data.samples=3000",
    "--set",
    "data.test_samples=300",
];

#[test]
fn train_killed_at_random_points_resumes_exactly() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = |k: &str| tmp.path().join(k);
    let args = |k: &str| -> Vec<String> {
        let mut a: Vec<String> = ["train", "smoke", "--out", out(k).to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(TRAIN.iter().map(|s| s.to_string()));
        a
    };
    let started = Instant::now();
    let reference = ok(&refs(&args("reference")));
    let wall = started.elapsed();
    let reference = run_dirs(&out("reference"))
        .pop()
        .unwrap_or_else(|| panic!("no run in:\n{reference}"));
    let expected = history(&reference);
    assert_eq!(expected.len(), 4);
    let mut endings = vec![];
    for (i, f) in fractions(21, 5).into_iter().enumerate() {
        let k = format!("k{i}");
        let delay = wall.mul_f64(f);
        let log = tmp.path().join(format!("{k}.log"));
        no_panic(
            &format!("killed at {delay:?}"),
            &killed(&refs(&args(&k)), delay, &log),
        );
        let Some(run) = run_dirs(&out(&k)).pop() else {
            endings.push("killed before its run directory");
            continue;
        };
        let run_s = run.to_str().unwrap();
        let (done, t) = attempt(&["train", "--resume", run_s]);
        no_panic("resume", &t);
        let resumed = if done {
            endings.push("resumed");
            true
        } else if t.contains("cannot resume a run without its run.json") {
            // Killed while it created its directory: nothing was trained.
            assert!(t.contains(run_s), "the error names the run:\n{t}");
            endings.push("refused: killed while starting");
            false
        } else if t.contains("no complete checkpoint to resume from") {
            // Killed in its first epoch: nothing to resume; the user starts again.
            assert!(t.contains(run_s), "the error names the run:\n{t}");
            endings.push("refused: no checkpoint yet");
            false
        } else if let Some(e) = t
            .split("--from-epoch ")
            .nth(1)
            .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
            .filter(|s| !s.is_empty())
        {
            // Killed between a checkpoint and its history row: the error offers the epoch
            // whose history is whole; resuming from it ends where an uninterrupted run ends.
            let (done, t2) = attempt(&["train", "--resume", run_s, "--from-epoch", e]);
            no_panic("resume --from-epoch", &t2);
            assert!(done, "the offered --from-epoch {e} fails:\n{t}\n{t2}");
            endings.push("resumed from the offered epoch");
            true
        } else {
            panic!("killed at {delay:?}, the resume neither works nor says what to do:\n{t}");
        };
        if resumed {
            assert_eq!(history(&run), expected, "killed at {delay:?} of {wall:?}");
            let summary = |r: &Path| std::fs::read_to_string(r.join("summary.json")).unwrap();
            let acc = |s: String| {
                s.lines()
                    .find(|l| l.contains("\"test_acc\""))
                    .map(str::to_string)
            };
            assert_eq!(acc(summary(&run)), acc(summary(&reference)));
        }
    }
    println!("train killed with -9 at 5 points: {endings:?}");
}

#[test]
fn ablate_and_search_killed_at_random_points_finish_with_the_same_numbers() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let suite = write_suite(
        tmp.path(),
        "kill",
        2000,
        3,
        r#"{ name = "a", set = { "optimizer.lr" = 0.05 } }, { name = "b", set = { "optimizer.lr" = 0.02 } }"#,
    );
    let suite_s = suite.to_str().unwrap().to_string();
    let space = tmp.path().join("space.toml");
    std::fs::write(
        &space,
        "seed = 3\n[params.\"optimizer.lr\"]\nkind = \"log-uniform\"\nlow = 0.005\nhigh = 0.1\n\
         [[stages]]\ntrials = 4\nepochs = 2\nrungs = [1]\nset = { \"data.samples\" = 2000 }\n",
    )
    .unwrap();
    let space_s = space.to_str().unwrap().to_string();
    let ablate = |out: &Path| -> Vec<String> {
        ["ablate", &suite_s, "--out", out.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let search = |out: &Path| -> Vec<String> {
        [
            "search",
            "smoke",
            "--space",
            &space_s,
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    type Args<'a> = &'a dyn Fn(&Path) -> Vec<String>;
    // Where each command's table is: the suite's report directory (its last line says), the
    // search's folder.
    type Table = fn(&Path, &str) -> PathBuf;
    let cases: [(&str, Args, Table); 2] = [
        ("ablate", &ablate, |_, output| {
            report_dir(output).join("results.csv")
        }),
        ("search", &search, |out, _| {
            out.join("smoke-space/trials.csv")
        }),
    ];
    let column = "test_acc";
    for (what, args, table) in cases {
        let reference_out = tmp.path().join(format!("{what}-reference"));
        let a = args(&reference_out);
        let started = Instant::now();
        let t = ok(&refs(&a));
        let wall = started.elapsed();
        let expected = csv_column(&table(&reference_out, &t), column);
        assert!(!expected.is_empty());
        for (i, f) in fractions(if what == "ablate" { 2101 } else { 2102 }, 3)
            .into_iter()
            .enumerate()
        {
            let out = tmp.path().join(format!("{what}-k{i}"));
            let a = args(&out);
            let a = refs(&a);
            let delay = wall.mul_f64(f);
            let log = tmp.path().join(format!("{what}-k{i}.log"));
            no_panic(
                &format!("{what} killed at {delay:?}"),
                &killed(&a, delay, &log),
            );
            // Its runs stop by themselves once it is gone; a rerun while one still writes is
            // refused (tested elsewhere), so a user waits, as here.
            wait_for_writers(&out);
            for r in run_dirs(&out) {
                for log in std::fs::read_dir(r.parent().unwrap()).unwrap().flatten() {
                    let p = log.path();
                    if p.extension().is_some_and(|e| e == "log") {
                        no_panic(
                            &p.display().to_string(),
                            &std::fs::read_to_string(&p).unwrap(),
                        );
                    }
                }
            }
            // A run the killed command started in its last moments may take its lock only
            // now: the rerun refuses it, naming the pid, and the user waits as told.
            let (mut done, mut t) = attempt(&a);
            for _ in 0..5 {
                if done || !t.contains("still being written by pid") {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
                wait_for_writers(&out);
                (done, t) = attempt(&a);
            }
            no_panic(&format!("{what} rerun"), &t);
            assert!(
                done,
                "{what} killed at {delay:?} of {wall:?}, then rerun:\n{t}"
            );
            assert_eq!(
                csv_column(&table(&out, &t), column),
                expected,
                "{what} killed at {delay:?} of {wall:?}"
            );
        }
    }
}

/// A report's wall-time phrase (this invocation, the interrupted ones before it) reads back.
#[test]
fn the_wall_time_phrase_reads_back() {
    for wall in [
        WallTime {
            this_s: 1234.4,
            earlier: vec![],
        },
        WallTime {
            this_s: 3000.0,
            earlier: vec![("20261207-140903".into(), Some(3050.0))],
        },
        WallTime {
            this_s: 10.0,
            earlier: vec![("a".into(), None), ("b".into(), Some(5.0))],
        },
    ] {
        let phrase = wall.phrase();
        let line = format!("- Runs: 3 of 3 finished; {phrase}.\n- Training time: 5 s.\n");
        let back = WallTime::parse(&line).expect("the phrase reads back");
        assert_eq!(back.earlier, wall.earlier, "{phrase}");
        assert_eq!(back.this_s, wall.this_s.round(), "{phrase}");
    }
    let two = WallTime {
        this_s: 10.0,
        earlier: vec![("a".into(), None), ("b".into(), Some(5.0))],
    };
    assert_eq!(
        two.phrase(),
        "this invocation took 10 s, after 2 interrupted invocations (`a` time unknown, `b` 5 s): at least 15 s in all"
    );
    assert_eq!(WallTime::parse("no time here"), None);
}
