//! `convlab ablate` end to end, through the binary a user runs: every shipped suite at the
//! smoke budget, resuming an interrupted suite without redoing finished runs, re-running only
//! failures, rebuilding a report, the Slurm executor against a real one-node Slurm, and the
//! errors a bad suite gets. (This package's own test binary, because only here does Cargo hand
//! tests the path of the `convlab` binary.)

// A test fails by panicking; an unwrap says where.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use convlab_experiments::config::suite::{Suite, builtin_names};

const EXE: &str = env!("CARGO_BIN_EXE_convlab");

/// One suite at a time: the runs share two cores, and the Slurm cluster is one.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn convlab(args: &[&str]) -> Output {
    Command::new(EXE)
        .args(args)
        .env("BURN_DEVICE", "flex")
        .output()
        .expect("starting convlab")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(args: &[&str]) -> String {
    let o = convlab(args);
    let t = text(&o);
    assert!(o.status.success(), "convlab {args:?} failed:\n{t}");
    t
}

/// The report directory named by the last `report: DIR (...)` line of a suite's output.
fn report_dir(output: &str) -> PathBuf {
    let line = output
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("report: "))
        .unwrap_or_else(|| panic!("no report line in:\n{output}"));
    PathBuf::from(line.split(" (").next().unwrap())
}

fn csv_rows(dir: &Path) -> Vec<csv::StringRecord> {
    let mut r = csv::Reader::from_path(dir.join("results.csv")).expect("results.csv");
    r.records().map(|r| r.unwrap()).collect()
}

fn column(dir: &Path, name: &str) -> usize {
    let mut r = csv::Reader::from_path(dir.join("results.csv")).unwrap();
    r.headers()
        .unwrap()
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// A report has its table, CSV and two PNGs that decode to real images.
fn check_report(dir: &Path, runs: usize) {
    let rows = csv_rows(dir);
    assert_eq!(rows.len(), runs, "{}", dir.display());
    let status = column(dir, "status");
    for r in &rows {
        assert_eq!(&r[status], "done", "{r:?}");
    }
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(summary.contains("| variant |"), "{summary}");
    for png in ["curves.png", "bars.png"] {
        let img = image::open(dir.join(png)).unwrap_or_else(|e| panic!("{png}: {e}"));
        assert!(img.width() >= 400 && img.height() >= 300, "{png}");
        // Not a blank canvas: the plot drew something besides the background.
        let rgb = img.to_rgb8();
        let first = *rgb.get_pixel(0, 0);
        let other = rgb.pixels().filter(|p| **p != first).count();
        assert!(other > 1000, "{png} looks blank");
    }
}

/// Writes a suite file whose runs are LeNet-5 on synthetic data, `samples` images an epoch.
fn write_suite(dir: &Path, name: &str, samples: usize, epochs: usize, values: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let body = format!(
        r#"description = "test suite"
question = "does the engine work?"
base = "smoke"
seeds = 1
baseline = "a"
metrics = ["test_acc", "final_train_loss"]

[[axes]]
name = "lr"
values = [{values}]

[budgets.short]
epochs = {epochs}
set = {{ "data.samples" = {samples}, "batch_size" = 64 }}
"#
    );
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn every_shipped_suite_runs_at_the_smoke_budget() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let started = Instant::now();
    for name in builtin_names() {
        let suite = Suite::load(name).unwrap();
        let t = ok(&[
            "ablate", name, "--budget", "smoke", "--seeds", "1", "--out", out,
        ]);
        let dir = report_dir(&t);
        check_report(&dir, suite.variants().len());
        // Every variant is a different model or recipe: no two runs share an id.
        let ids: std::collections::BTreeSet<String> = csv_rows(&dir)
            .iter()
            .map(|r| r[column(&dir, "run_id")].to_string())
            .collect();
        assert_eq!(ids.len(), suite.variants().len(), "{name}");
        // The primary metric reaches the summary; the papers' numbers do not stand beside
        // synthetic-data runs, and the summary says which binary made it.
        let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
        assert!(summary.contains(suite.metrics[0].name()), "{name}");
        assert!(
            summary.contains("dataset synthetic (the smoke budget"),
            "{name}"
        );
        assert!(!summary.contains("| published |"), "{name}");
        for p in suite.published.values() {
            assert!(
                !summary.contains(&format!("{:.2} ({})", p.value, p.source)),
                "{name}"
            );
        }
        assert!(summary.contains("- Made by convlab "), "{name}");
        let made_by = column(&dir, "made_by");
        assert!(
            csv_rows(&dir)
                .iter()
                .all(|r| r[made_by].starts_with("convlab ")),
            "{name}: every row of results.csv names its binary"
        );
        // Every comparison the suite declares is judged (one seed: too few runs to say).
        let pairs = suite.comparison_pairs().unwrap();
        assert_eq!(
            summary.contains("## Comparisons"),
            !pairs.is_empty(),
            "{name}"
        );
        for p in &pairs {
            assert!(
                summary.contains(&format!("| `{}` | `{}` |", p.a, p.b)),
                "{name}: {} vs {}",
                p.a,
                p.b
            );
        }
    }
    eprintln!(
        "{} suites at smoke in {:.0} s",
        builtin_names().len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn every_shipped_suite_plans_at_every_budget() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    for name in builtin_names() {
        for budget in ["smoke", "short", "medium", "full"] {
            for dataset in [None, Some("fashion-mnist")] {
                let mut args = vec![
                    "ablate",
                    name,
                    "--budget",
                    budget,
                    "--dry-run",
                    "--no-estimate",
                    "--out",
                    out,
                ];
                if let Some(d) = dataset {
                    args.extend(["--dataset", d]);
                }
                let t = ok(&args);
                assert!(t.contains("nothing was run"), "{t}");
            }
        }
    }
    // A dry run writes nothing.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

/// Issue 24: every shipped suite has a medium budget with three seeds or more (the transfer
/// study four); residual's keeps the shallowest and the deepest nets.
#[test]
fn every_shipped_suite_has_a_medium_budget_of_three_seeds_or_more() {
    use convlab_experiments::config::suite::BudgetName;
    use convlab_experiments::sweep::plan::{PlanOptions, plan, seeds};
    for name in builtin_names() {
        let s = Suite::load(name).unwrap().at_budget(BudgetName::Medium);
        assert!(
            s.budgets.contains_key("medium"),
            "{name} has no medium budget"
        );
        let opts = PlanOptions {
            budget: BudgetName::Medium,
            seeds: None,
            dataset: Some("fashion-mnist".into()),
            out: PathBuf::from("ablations"),
        };
        let want = if name.starts_with("transfer") { 4 } else { 3 };
        assert!(
            seeds(&s, &opts) >= want,
            "{name}: {} seeds",
            seeds(&s, &opts)
        );
        let runs = plan(&s, &opts).unwrap();
        assert_eq!(
            runs.len(),
            s.variant_names().len() * seeds(&s, &opts),
            "{name}"
        );
        if name == "residual" {
            assert_eq!(
                s.variant_names(),
                ["plain-20", "plain-56", "residual-20", "residual-56"]
            );
        }
        // Long enough for a cosine schedule to anneal and validation accuracy to settle (the
        // plateau rule looks at the last 3 epochs), validated on 6,000 images as with all of
        // Fashion-MNIST; the transfer study keeps its per-variant epochs.
        if !name.starts_with("transfer") {
            for r in &runs {
                let v = format!("{name}/{}", r.variant);
                assert!(r.recipe.epochs >= 15, "{v}: {} epochs", r.recipe.epochs);
                assert_eq!(r.recipe.model.width, Some(0.5), "{v}");
                let images = r.recipe.data.limit.unwrap_or(60_000) as f64;
                let valid = (images * r.recipe.data.valid_fraction).round();
                assert!(
                    (valid - 6000.0).abs() <= 10.0,
                    "{v}: {valid} validation images"
                );
            }
        }
    }
    // A budget's exclusions are checked like the suite's.
    let bad = r#"
description = "d"
question = "q"
base = "smoke"
metrics = ["test_acc"]
baseline = "a"
[[axes]]
name = "x"
values = [{ name = "a" }, { name = "b", set = { "epochs" = 1 } }]
[budgets.short]
[budgets.medium]
exclude = [{ y = "a" }]
"#;
    let err = Suite::parse("bad", bad).unwrap_err().to_string();
    assert!(err.contains("budgets.medium.exclude[0].y"), "{err}");
    let none_left = bad.replace(r#"{ y = "a" }"#, r#"{ x = ["a", "b"] }"#);
    let err = Suite::parse("bad", &none_left).unwrap_err().to_string();
    assert!(
        err.contains("budgets.medium.exclude") && err.contains("leaves no variant"),
        "{err}"
    );
    let seeds0 = bad.replace(r#"exclude = [{ y = "a" }]"#, "seeds = 0");
    let err = Suite::parse("bad", &seeds0).unwrap_err().to_string();
    assert!(err.contains("budgets.medium.seeds"), "{err}");
}

/// Issue 24: `--dry-run` estimates a suite's wall time on this machine: each distinct model
/// measured for a few steps (cached per CPU and binary, so a second dry run measures
/// nothing), times the images each run sees, laid out on `--jobs` slots.
#[test]
fn a_dry_run_estimates_the_suites_wall_time_from_measured_speeds() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "ablate",
            "dropout",
            "--budget",
            "smoke",
            "--dry-run",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let o = Command::new(EXE)
            .args(&args)
            .env("BURN_DEVICE", "flex")
            .env("HOME", tmp.path())
            .output()
            .unwrap();
        let t = text(&o);
        assert!(o.status.success(), "{t}");
        t
    };
    let first = run(&["--jobs", "2"]);
    assert!(first.contains("est. time"), "{first}");
    let line = first
        .lines()
        .find(|l| l.starts_with("estimated wall time on this machine: "))
        .unwrap_or_else(|| panic!("no estimate in:\n{first}"));
    assert!(line.contains("2 at once"), "{line}");
    // The three dropout variants are three model configs: measured once each, then cached.
    assert_eq!(first.matches("estimating: measuring").count(), 3, "{first}");
    let cache = tmp.path().join(".cache/convlab/throughput.json");
    assert!(cache.is_file());
    let second = run(&["--jobs", "2"]);
    assert!(!second.contains("estimating: measuring"), "{second}");
    assert!(second.contains("3 from the cache"), "{second}");
    assert!(!run(&["--no-estimate"]).contains("estimated wall time"));
    // Nothing of the suite was written.
    assert!(!out.exists());
}

/// The estimate's arithmetic: the images a recipe sees, runs laid out on slots, durations.
#[test]
fn the_estimate_counts_images_and_lays_runs_out_on_slots() {
    use convlab_experiments::Recipe;
    use convlab_experiments::sweep::estimate::{
        Images, Speed, duration, images, makespan, run_seconds,
    };
    let r = Recipe::load("lenet-fashion", &[]).unwrap();
    // 60,000 training images, 10 % held out for validation; the 10,000 test images.
    let want = Images {
        train: 54_000,
        valid: 6_000,
        test: 10_000,
    };
    assert_eq!(images(&r), Some(want));
    let cut = Recipe::load(
        "lenet-fashion",
        &[
            "data.limit=1000".into(),
            "data.class_subset=[1, 2, 3, 5, 6]".into(),
            "data.test_limit=300".into(),
        ],
    )
    .unwrap();
    // Half the classes: 30,000 images, of which the first 1,000; half the test set, cut at 300.
    assert_eq!(
        images(&cut),
        Some(Images {
            train: 900,
            valid: 100,
            test: 300
        })
    );
    let speed = Speed {
        train: 1000.0,
        infer: 3000.0,
    };
    // epochs × (54,000 / 1,000 + 6,000 / 3,000) + 10,000 / 3,000 + start-up.
    let s = run_seconds(&r, want, speed);
    let steps = r.epochs as f64 * (54.0 + 2.0) + 10.0 / 3.0;
    assert!(s > steps && s < steps + 10.0, "{s} vs {steps}");
    assert_eq!(makespan(&[10.0, 10.0, 10.0], 2), 20.0);
    assert_eq!(makespan(&[30.0, 10.0, 10.0, 10.0], 2), 30.0);
    assert_eq!(makespan(&[5.0, 5.0], 1), 10.0);
    assert_eq!(makespan(&[], 2), 0.0);
    assert_eq!(duration(42.0), "42 s");
    assert_eq!(duration(600.0), "10 min");
    assert_eq!(duration(5400.0), "1 h 30 min");
}

#[test]
fn the_residual_suite_is_the_paper_grid() {
    let s = Suite::load("residual").unwrap();
    assert_eq!(
        s.variant_names(),
        [
            "plain-20",
            "plain-32",
            "plain-44",
            "plain-56",
            "residual-20",
            "residual-32",
            "residual-44",
            "residual-56"
        ]
    );
    let opts = convlab_experiments::sweep::plan::PlanOptions {
        budget: convlab_experiments::config::suite::BudgetName::Full,
        seeds: Some(1),
        dataset: None,
        out: PathBuf::from("ablations"),
    };
    let runs = convlab_experiments::sweep::plan::plan(&s, &opts).unwrap();
    // The full budget is He et al.'s recipe: 182 epochs, option A shortcuts or none.
    for r in &runs {
        assert_eq!(r.recipe.epochs, 182);
        let (params, _) = convlab_experiments::sweep::plan::check_model(r).unwrap();
        let expected = match r.variant.rsplit('-').next().unwrap() {
            "20" => 269_722,
            "32" => 464_154,
            "44" => 658_586,
            "56" => 853_018,
            v => panic!("{v}"),
        };
        assert_eq!(params, expected, "{}", r.variant);
    }
}

#[test]
fn an_interrupted_suite_resumes_without_rerunning_finished_runs() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let suite = write_suite(
        tmp.path(),
        "resume",
        6000,
        4,
        r#"{ name = "a", set = { "optimizer.lr" = 0.05 } }, { name = "b", set = { "optimizer.lr" = 0.02 } }, { name = "c", set = { "optimizer.lr" = 0.01 } }"#,
    );
    let out = tmp.path().join("out");
    let args = [
        "ablate",
        suite.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let spawned = Instant::now();
    let mut child = Command::new(EXE)
        .args(args)
        .env("BURN_DEVICE", "flex")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first run to finish and the second to write its first checkpoint.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("[1/3]") {
            break;
        }
    }
    assert!(seen.contains("[1/3] a seed 0: done"), "{seen}");
    let runs = out.join("resume").join("runs");
    let deadline = Instant::now() + Duration::from_secs(120);
    let second = loop {
        let found = std::fs::read_dir(&runs).unwrap().flatten().find(|e| {
            e.path().join("checkpoint").join("model-1.bpk").exists()
                && !e.path().join("summary.json").exists()
        });
        if let Some(e) = found {
            break e.path();
        }
        assert!(
            Instant::now() < deadline,
            "the second run never checkpointed"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(|l| l.ok()).collect();
    let exit = child.wait().unwrap();
    let first_s = spawned.elapsed().as_secs_f64();
    assert!(
        !exit.success(),
        "an interrupted suite exits non-zero: {rest:?}"
    );
    // It wrote no report, but its heartbeat says how long it ran.
    let reports = |dir: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("plan.json").exists())
            .collect();
        v.sort();
        v
    };
    let first = reports(&out.join("resume")).pop().unwrap();
    assert!(!first.join("summary.md").exists());
    let beat: f64 = std::fs::read_to_string(first.join("alive"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        beat > 0.0 && beat <= first_s.ceil(),
        "{beat} s of {first_s} s"
    );
    // The finished run, byte for byte, before starting again.
    let finished: Vec<PathBuf> = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("summary.json").exists() && *p != second)
        .collect();
    assert_eq!(finished.len(), 1, "{rest:?}");
    let before = std::fs::read(finished[0].join("metrics.csv")).unwrap();
    let modified = std::fs::metadata(finished[0].join("metrics.csv"))
        .unwrap()
        .modified()
        .unwrap();
    assert!(second.join("checkpoint").exists());

    let t = ok(&args);
    assert!(
        t.contains(
            "3 runs (3 variants × 1 seeds, budget short): 2 to run (1 resuming), 1 already finished"
        ),
        "{t}"
    );
    let dir = report_dir(&t);
    check_report(&dir, 3);
    // The suite's time is both invocations': the interrupted one's heartbeat and this one's.
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    let name = first.file_name().unwrap().to_string_lossy();
    assert!(
        summary.contains(&format!(
            ", after 1 interrupted invocation (`{name}` {beat:.0} s): "
        )),
        "{summary}"
    );
    let took = convlab_experiments::sweep::wall::WallTime::parse(&summary).unwrap();
    assert!(
        (took.total_s() - took.this_s - beat).abs() < 1e-9,
        "{summary}"
    );
    // Rebuilt in place, the report keeps both.
    ok(&["ablate", "report", dir.to_str().unwrap()]);
    let rebuilt = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert_eq!(
        convlab_experiments::sweep::wall::WallTime::parse(&rebuilt),
        Some(took)
    );
    assert_eq!(
        std::fs::read(finished[0].join("metrics.csv")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::metadata(finished[0].join("metrics.csv"))
            .unwrap()
            .modified()
            .unwrap(),
        modified
    );
    // The resumed run continued from its checkpoint: one row per epoch, no epoch twice.
    let metrics = std::fs::read_to_string(second.join("metrics.csv")).unwrap();
    let epochs: Vec<&str> = metrics
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(epochs, ["1", "2", "3", "4"], "{metrics}");

    // A third start finds nothing to do.
    let t = ok(&args);
    assert!(
        t.contains("0 to run (0 resuming), 3 already finished"),
        "{t}"
    );
    // ... and counts only itself: the invocation before it wrote a report.
    let third = std::fs::read_to_string(report_dir(&t).join("summary.md")).unwrap();
    assert!(
        third.contains("this invocation took") && !third.contains("interrupted invocation"),
        "{third}"
    );
}

/// A suite none of whose runs finished has no answer: it exits non-zero after its report
/// (issue 21, finding 7: it used to exit 0).
#[test]
fn a_suite_with_no_finished_run_fails() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let suite = write_suite(
        tmp.path(),
        "all-fail",
        512,
        1,
        r#"{ name = "a", set = { "optimizer.lr" = 1e6 } }"#,
    );
    let out = tmp.path().join("out");
    let o = convlab(&[
        "ablate",
        suite.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("no run of the suite finished"), "{t}");
    assert!(report_dir(&t).join("summary.md").is_file(), "{t}");
}

#[test]
fn failed_runs_are_kept_and_rerun_only_with_retry_failed() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    // lr 1e6 without batch norm: the loss leaves the floats within an epoch.
    let suite = write_suite(
        tmp.path(),
        "failing",
        512,
        2,
        r#"{ name = "a", set = { "optimizer.lr" = 0.05 } }, { name = "boom", set = { "optimizer.lr" = 1e6 } }"#,
    );
    let out = tmp.path().join("out");
    let args = [
        "ablate",
        suite.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    // One failed run does not stop the others, nor the report.
    let t = ok(&args);
    assert!(t.contains("boom seed 0: failed"), "{t}");
    let dir = report_dir(&t);
    let rows = csv_rows(&dir);
    let status = column(&dir, "status");
    assert_eq!(
        rows.iter()
            .map(|r| r[status].to_string())
            .collect::<Vec<_>>(),
        ["done", "diverged"]
    );
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(summary.contains("diverged"), "{summary}");

    // Again: the failure is reported and skipped, the finished run untouched.
    let t = ok(&args);
    assert!(t.contains("0 to run (0 resuming), 1 already finished, 1 failed before (--retry-failed runs them again)"), "{t}");
    assert!(t.contains("skipping failed run boom seed 0"), "{t}");

    // --retry-failed runs only the failure, setting the old attempt aside.
    let runs = out.join("failing").join("runs");
    let count = |pred: &dyn Fn(&str) -> bool| {
        std::fs::read_dir(&runs)
            .unwrap()
            .flatten()
            .filter(|e| pred(&e.file_name().to_string_lossy()))
            .count()
    };
    let aside_before = count(&|n: &str| n.contains(".failed"));
    let mut retry = args.to_vec();
    retry.push("--retry-failed");
    let t = ok(&retry);
    assert!(
        t.contains("1 to run (0 resuming), 1 already finished"),
        "{t}"
    );
    assert!(t.contains("[1/1] boom seed 0: failed"), "{t}");
    assert_eq!(count(&|n: &str| n.contains(".failed")), aside_before + 1);
}

#[test]
fn a_report_is_rebuilt_from_its_runs() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let t = ok(&["ablate", "lrn", "--budget", "smoke", "--out", out]);
    let dir = report_dir(&t);
    check_report(&dir, 4);
    let csv = std::fs::read(dir.join("results.csv")).unwrap();
    // Two seeds on each side: the difference to the baseline gets an interval.
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(summary.contains(" [") && summary.contains("]"), "{summary}");
    // Rebuilt in place, it keeps the wall time of the invocation that ran it.
    let took = |s: &str| {
        s.lines()
            .find(|l| l.contains("this invocation took"))
            .map(str::to_string)
    };
    assert!(took(&summary).is_some(), "{summary}");
    ok(&["ablate", "report", dir.to_str().unwrap()]);
    let rebuilt = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert_eq!(took(&rebuilt), took(&summary));
    for f in ["results.csv", "summary.md", "curves.png", "bars.png"] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    ok(&["ablate", "report", dir.to_str().unwrap()]);
    check_report(&dir, 4);
    assert_eq!(std::fs::read(dir.join("results.csv")).unwrap(), csv);
    let again = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(again.contains("| `lrn` |"), "{again}");
    assert!(
        !again.contains("| published |"),
        "smoke runs are synthetic:\n{again}"
    );
    // The same runs recorded as a real budget: the papers' numbers stand beside them.
    let plan = std::fs::read_to_string(dir.join("plan.json")).unwrap();
    assert!(plan.contains("\"budget\": \"smoke\""), "{plan}");
    let plan = plan.replace("\"budget\": \"smoke\"", "\"budget\": \"short\"");
    std::fs::write(dir.join("plan.json"), plan).unwrap();
    ok(&["ablate", "report", dir.to_str().unwrap()]);
    let real = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(real.contains("| published |"), "{real}");
    // The comparisons are how the runs are read: the suite's current claims apply, not the
    // plan's copy (as in `ablate verdicts`), while the runs stay as the plan made them.
    let plan = std::fs::read_to_string(dir.join("plan.json")).unwrap();
    let claim = "Krizhevsky et al. 2012, Sec. 3.3";
    assert!(plan.contains(claim), "{plan}");
    std::fs::write(
        dir.join("plan.json"),
        plan.replace(claim, "a superseded claim"),
    )
    .unwrap();
    ok(&["ablate", "report", dir.to_str().unwrap()]);
    let again = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        again.contains(claim) && !again.contains("a superseded claim"),
        "{again}"
    );
}

#[test]
fn bad_suites_are_errors_that_name_the_key() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let case = |name: &str, body: &str, expect: &[&str]| {
        let path = tmp.path().join(format!("{name}.toml"));
        std::fs::write(&path, body).unwrap();
        let o = convlab(&[
            "ablate",
            path.to_str().unwrap(),
            "--budget",
            "smoke",
            "--out",
            out.to_str().unwrap(),
        ]);
        let t = text(&o);
        assert!(!o.status.success(), "{name}: {t}");
        for e in expect {
            assert!(t.contains(e), "{name}: expected `{e}` in:\n{t}");
        }
    };
    let head =
        "description = \"d\"\nquestion = \"q\"\nbase = \"smoke\"\nmetrics = [\"test_acc\"]\n";
    case(
        "unknown_key",
        &format!(
            "{head}baseline = \"a\"\nseedz = 3\n[[axes]]\nname = \"x\"\nvalues = [{{ name = \"a\" }}]\n"
        ),
        &["unknown_key", "seedz"],
    );
    case(
        "bad_baseline",
        &format!(
            "{head}baseline = \"zz\"\n[[axes]]\nname = \"x\"\nvalues = [{{ name = \"a\" }}]\n"
        ),
        &["baseline", "`zz` is not a variant"],
    );
    case(
        "same_key",
        &format!(
            "{head}baseline = \"a-c\"\n[[axes]]\nname = \"x\"\nvalues = [{{ name = \"a\", set = {{ \"optimizer.lr\" = 0.1 }} }}]\n[[axes]]\nname = \"y\"\nvalues = [{{ name = \"c\", set = {{ \"optimizer.lr\" = 0.2 }} }}]\n"
        ),
        &["optimizer.lr", "ambiguous"],
    );
    // A knob LeNet-5 does not have: refused before any run starts, naming the variant.
    case(
        "bad_knob",
        &format!(
            "{head}baseline = \"a\"\n[[axes]]\nname = \"x\"\nvalues = [{{ name = \"a\", set = {{ \"model.shortcut\" = \"b\" }} }}]\n"
        ),
        &["variant a", "shortcut", "does not apply to lenet5"],
    );
    case(
        "bad_recipe_key",
        &format!(
            "{head}baseline = \"a\"\n[[axes]]\nname = \"x\"\nvalues = [{{ name = \"a\", set = {{ \"optimizer.lrr\" = 0.1 }} }}]\n"
        ),
        &["lrr"],
    );
    // None of them started a run or wrote anything.
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().count() == 0);
}

#[test]
fn a_suite_starts_from_another_suites_runs() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let out_s = out.to_str().unwrap();
    // Bases on two halves of 4 synthetic classes; a study copying their first n layers.
    let base = tmp.path().join("bases.toml");
    std::fs::write(
        &base,
        r#"description = "bases"
question = "q"
base = "smoke"
seeds = 1
baseline = "A"
metrics = ["test_acc"]
set = { "model.classes" = false, "data.classes" = 4, "epochs" = 1 }
[[axes]]
name = "half"
values = [
  { name = "A", set = { "data.class_subset" = [0, 1] } },
  { name = "B", set = { "data.class_subset" = [2, 3] } },
]
[budgets.short]
"#,
    )
    .unwrap();
    let study = tmp.path().join("study.toml");
    std::fs::write(
        &study,
        format!(
            r#"description = "study"
question = "q"
base = "smoke"
seeds = 1
baseline = "B-partial-0"
metrics = ["test_acc"]
set = {{ "model.classes" = false, "data.classes" = 4, "epochs" = 1, "data.class_subset" = [2, 3] }}
exclude = [{{ regime = "fine-tune", layers = "0" }}, {{ from = "A", layers = "0" }}]
[[axes]]
name = "from"
values = [
  {{ name = "A", set = {{ "transfer.from" = "suite:{b}/{{from}}" }} }},
  {{ name = "B", set = {{ "transfer.from" = "suite:{b}/{{from}}" }} }},
]
[[axes]]
name = "regime"
values = [
  {{ name = "partial", set = {{ "transfer.regime" = "partial" }} }},
  {{ name = "fine-tune", set = {{ "transfer.regime" = "fine-tune" }} }},
]
[[axes]]
name = "layers"
values = [
  {{ name = "0", set = {{ "transfer.layers" = 0 }} }},
  {{ name = "2", set = {{ "transfer.layers" = 2 }} }},
]
[budgets.short]
"#,
            b = base.display()
        ),
    )
    .unwrap();
    let suite = Suite::load(study.to_str().unwrap()).unwrap();
    let names = suite.variant_names();
    assert_eq!(
        names,
        [
            "A-partial-2",
            "A-fine-tune-2",
            "B-partial-0",
            "B-partial-2",
            "B-fine-tune-2"
        ]
    );
    // `{from}` is the variant's value on the axis `from`.
    let a = &suite.variant_list()[0];
    assert_eq!(
        a.set["transfer.from"].as_str().unwrap(),
        format!("suite:{}/A", base.display())
    );

    // Before the bases exist: an error naming them and the command that makes them, and
    // nothing run.
    let study_s = study.to_str().unwrap();
    let o = convlab(&["ablate", study_s, "--out", out_s]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains("bases/A seed 0 (new)") || t.contains("bases.toml/A seed 0 (new)"),
        "{t}"
    );
    assert!(
        t.contains("convlab ablate") && t.contains("--budget short"),
        "{t}"
    );
    assert!(!out.join("study").exists());
    let dry = ok(&["ablate", study_s, "--out", out_s, "--dry-run"]);
    assert!(dry.contains("needs"), "{dry}");

    ok(&["ablate", base.to_str().unwrap(), "--out", out_s]);
    let t = ok(&["ablate", study_s, "--out", out_s]);
    let dir = report_dir(&t);
    check_report(&dir, 5);
    // Each run starts from the base run of its variant: the recipe it ran names that run's
    // directory, and the run copied (partial: froze) the first two layers.
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
    let base_runs = out.join("bases").join("runs");
    for run in plan["runs"].as_array().unwrap() {
        let variant = run["variant"].as_str().unwrap();
        let from = run["recipe"]["transfer"]["from"].as_str().unwrap();
        assert!(Path::new(from).starts_with(&base_runs), "{variant}: {from}");
        assert!(Path::new(from).join("summary.json").exists(), "{from}");
        let needs = run["needs"].as_str().unwrap();
        assert!(needs.ends_with(&format!("/{}", &variant[..1])), "{needs}");
        let log = std::fs::read_to_string(
            out.join("study")
                .join("runs")
                .join(format!("{}.log", run["id"].as_str().unwrap())),
        )
        .unwrap();
        let layers = variant.rsplit('-').next().unwrap();
        assert!(
            log.contains(&format!("first {layers} layers")),
            "{variant}: {log}"
        );
    }
    // Planned again, the study finds its runs (the identity holds the base run's id, not
    // the path of the output directory).
    let again = ok(&["ablate", study_s, "--out", out_s]);
    assert!(again.contains("5 already finished"), "{again}");
}

/// Stops the one-node Slurm the test started, also when the test fails.
struct SlurmGuard {
    started: bool,
}

impl Drop for SlurmGuard {
    fn drop(&mut self) {
        if self.started {
            let _ = Command::new("bash")
                .arg(repo().join("scripts/slurm-one-node.sh"))
                .arg("down")
                .status();
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn the_slurm_executor_runs_a_suite_as_one_job_array() {
    let _g = serial();
    let script = repo().join("scripts/slurm-one-node.sh");
    let up_already = Command::new("bash")
        .arg(&script)
        .arg("status")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let mut guard = SlurmGuard { started: false };
    if !up_already {
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let has_apt = Path::new("/usr/bin/apt-get").exists();
        let has_slurm =
            Path::new("/usr/bin/sbatch").exists() || Path::new("/usr/sbin/slurmctld").exists();
        if !is_root || (!has_apt && !has_slurm) {
            eprintln!(
                "SKIPPED: no Slurm is running and this test cannot start one (needs root and apt-get or slurm-wlm installed); `scripts/test.sh` starts one"
            );
            return;
        }
        let o = Command::new("bash")
            .arg(&script)
            .arg("up")
            .output()
            .unwrap();
        assert!(o.status.success(), "slurm-one-node.sh up:\n{}", text(&o));
        guard.started = true;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let suite = Suite::load("shortcut").unwrap();
    let t = ok(&[
        "ablate",
        "shortcut",
        "--budget",
        "smoke",
        "--seeds",
        "1",
        "--executor",
        "slurm",
        "--jobs",
        "2",
        "--out",
        out,
    ]);
    assert!(t.contains("submitted Slurm job"), "{t}");
    let dir = report_dir(&t);
    check_report(&dir, suite.variants().len());
    // One array, one manifest line per run.
    let manifest = std::fs::read_to_string(dir.join("slurm").join("manifest.txt")).unwrap();
    assert_eq!(manifest.lines().count(), suite.variants().len());
    // Submitting again finds every run finished and submits nothing.
    let t = ok(&[
        "ablate",
        "shortcut",
        "--budget",
        "smoke",
        "--seeds",
        "1",
        "--executor",
        "slurm",
        "--out",
        out,
    ]);
    assert!(t.contains("0 to run"), "{t}");
    assert!(!t.contains("submitted Slurm job"), "{t}");
    // --no-wait returns at once; `report` collects the array's results afterwards.
    let t = ok(&[
        "ablate",
        "lrn",
        "--budget",
        "smoke",
        "--seeds",
        "1",
        "--executor",
        "slurm",
        "--no-wait",
        "--out",
        out,
    ]);
    let line = t
        .lines()
        .find_map(|l| l.strip_prefix("not waiting; when it is done: convlab ablate report "))
        .unwrap_or_else(|| panic!("{t}"));
    let report = PathBuf::from(line.trim());
    let id = t
        .lines()
        .find_map(|l| l.strip_prefix("submitted Slurm job "))
        .and_then(|l| l.split(':').next())
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(300);
    while convlab_experiments::sweep::executor::slurm_active(&id).unwrap() {
        assert!(Instant::now() < deadline, "Slurm job {id} never finished");
        std::thread::sleep(Duration::from_millis(500));
    }
    ok(&["ablate", "report", report.to_str().unwrap()]);
    check_report(&report, 2);
    drop(guard);
}

#[test]
fn student_t_quantiles_match_the_tables() {
    use convlab_experiments::base::stats::{diff_ci95, t_quantile};
    // t_{0.975}(df), from any table (scipy.stats.t.ppf(0.975, df)).
    for (df, expected) in [
        (1.0, 12.7062),
        (2.0, 4.3027),
        (5.0, 2.5706),
        (10.0, 2.2281),
        (30.0, 2.0423),
        (1000.0, 1.9623),
    ] {
        let q = t_quantile(0.975, df);
        assert!((q - expected).abs() < 1e-3, "df {df}: {q} vs {expected}");
    }
    // Welch: two groups of 3 with equal variance 1: df = 4, half-width t(4)·√(2/3).
    let (d, ci) = diff_ci95(&[2.0, 3.0, 4.0], &[0.0, 1.0, 2.0]);
    assert!((d - 2.0).abs() < 1e-12);
    let (lo, hi) = ci.unwrap();
    let half = 2.7764 * (2.0f64 / 3.0).sqrt();
    assert!(
        (lo - (2.0 - half)).abs() < 1e-3 && (hi - (2.0 + half)).abs() < 1e-3,
        "{lo} {hi}"
    );
    // One run on a side: no interval.
    assert!(diff_ci95(&[1.0], &[0.0, 1.0]).1.is_none());
}

fn repo_file(rel: &str) -> String {
    repo().join(rel).display().to_string()
}

#[test]
fn a_search_runs_coarse_to_fine_halves_and_resumes() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let out_s = out.to_str().unwrap();
    let space = repo_file("experiments/search/smoke.toml");
    let args = |stages: &str| -> Vec<String> {
        let mut a: Vec<String> = ["search", "smoke", "--space", &space, "--out", out_s]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if !stages.is_empty() {
            a.extend(["--stages".into(), stages.into()]);
        }
        a
    };
    let run = |a: &[String]| ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    // The coarse stage alone: 4 trials, the worse half stopped after epoch 1.
    let t = run(&args("1"));
    assert!(
        t.contains("stage 0, up to epoch 1: 4 trials, 4 to run"),
        "{t}"
    );
    assert!(
        t.contains("stage 0, up to epoch 2: 2 trials, 2 to run"),
        "{t}"
    );
    let dir = out.join("smoke-smoke");
    let rows = |dir: &Path| -> Vec<csv::StringRecord> {
        csv::Reader::from_path(dir.join("trials.csv"))
            .unwrap()
            .records()
            .map(|r| r.unwrap())
            .collect()
    };
    let coarse = rows(&dir);
    assert_eq!(coarse.len(), 4);
    let halved: Vec<_> = coarse
        .iter()
        .filter(|r| r[5].starts_with("halved at epoch 1"))
        .collect();
    assert_eq!(halved.len(), 2, "{coarse:?}");
    // A halved trial trained one epoch; the others two, and were tested.
    for r in &coarse {
        let epochs: usize = r[6].parse().unwrap();
        if r[5].starts_with("halved") {
            assert_eq!(epochs, 1, "{r:?}");
            assert!(r[9].is_empty());
        } else {
            assert_eq!((&r[5], epochs), ("done", 2), "{r:?}");
            assert!(!r[9].is_empty());
        }
    }
    // Both stages: the coarse one re-runs nothing; the fine stage samples inside the coarse
    // range, around the best trials.
    let t = run(&args(""));
    assert!(
        t.contains("stage 0, up to epoch 1: 4 trials, 0 to run"),
        "{t}"
    );
    assert!(
        t.contains("stage 0, up to epoch 2: 2 trials, 0 to run"),
        "{t}"
    );
    assert!(
        t.contains("stage 1, up to epoch 3: 2 trials, 2 to run"),
        "{t}"
    );
    let all = rows(&dir);
    assert_eq!(all.len(), 6);
    for r in all.iter().filter(|r| &r[0] == "1") {
        let lr: f64 = r[4].parse().unwrap();
        assert!((1e-3..=0.5).contains(&lr), "{r:?}");
        assert_eq!(&r[5], "done");
    }
    // Every trial trained from scratch once: one `initial loss` line per log.
    for entry in std::fs::read_dir(dir.join("runs")).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "log") {
            let log = std::fs::read_to_string(entry.path()).unwrap();
            assert_eq!(log.matches("initial loss").count(), 1, "{log}");
        }
    }
    // The best recipe extends the base and trains as it is.
    let best = convlab_experiments::config::recipe::Recipe::load(
        dir.join("best.toml").to_str().unwrap(),
        &[],
    )
    .unwrap();
    let winner = all
        .iter()
        .filter(|r| &r[0] == "1")
        .max_by(|a, b| {
            a[8].parse::<f64>()
                .unwrap()
                .total_cmp(&b[8].parse::<f64>().unwrap())
        })
        .unwrap();
    assert_eq!(best.optimizer.lr, winner[4].parse::<f64>().unwrap());
    assert_eq!(best.batch_size, winner[3].parse::<usize>().unwrap());
    assert_eq!(best.epochs, 2, "the base recipe's epochs, not the stage's");
    let img = image::open(dir.join("search.png")).unwrap();
    assert!(img.width() >= 800 && img.height() >= 300);
    // A third invocation runs nothing at all.
    let t = run(&args(""));
    assert_eq!(t.matches(", 0 to run").count(), 3, "{t}");

    // Interrupted in the middle: started again, it trains no trial from scratch twice.
    let big = tmp.path().join("big.toml");
    std::fs::write(
        &big,
        "[params.\"optimizer.lr\"]\nkind = \"log-uniform\"\nlow = 0.001\nhigh = 0.1\n\
         [[stages]]\ntrials = 4\nepochs = 3\nrungs = [1]\nset = { \"data.samples\" = 3000 }\n",
    )
    .unwrap();
    let big_args = [
        "search",
        "smoke",
        "--space",
        big.to_str().unwrap(),
        "--out",
        out_s,
    ];
    let mut child = Command::new(EXE)
        .args(big_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("[2/4]") {
            break;
        }
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let _rest: Vec<String> = lines.map_while(|l| l.ok()).collect();
    assert!(!child.wait().unwrap().success());
    let t = ok(&big_args);
    let first_rung = t
        .lines()
        .find(|l| l.starts_with("stage 0, up to epoch 1"))
        .unwrap();
    assert!(!first_rung.ends_with("4 to run"), "{t}");
    let big_dir = out.join("smoke-big");
    assert_eq!(rows(&big_dir).len(), 4);
    for entry in std::fs::read_dir(big_dir.join("runs")).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "log") {
            let log = std::fs::read_to_string(entry.path()).unwrap();
            assert!(log.matches("initial loss").count() <= 1, "{log}");
        }
    }
}

#[test]
fn a_failed_trial_is_recorded_and_the_search_goes_on() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let space = tmp.path().join("diverge.toml");
    // lr 1e6 makes the loss NaN at once: the divergence guard fails that trial.
    std::fs::write(
        &space,
        "[params.\"optimizer.lr\"]\nkind = \"choice\"\nvalues = [0.05, 1e6]\n\
         [[stages]]\ntrials = 6\nepochs = 1\n",
    )
    .unwrap();
    let t = ok(&[
        "search",
        "smoke",
        "--space",
        space.to_str().unwrap(),
        "--out",
        tmp.path().join("out").to_str().unwrap(),
    ]);
    let csv = std::fs::read_to_string(tmp.path().join("out/smoke-diverge/trials.csv")).unwrap();
    assert!(csv.contains(",failed: "), "{csv}");
    assert!(csv.contains(",done,"), "{csv}");
    assert!(t.contains("best trial"), "{t}");
}

#[test]
fn an_ensemble_averages_its_members_and_refuses_mismatched_ones() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let out_s = out.to_str().unwrap();
    // Three seeds of one variant in a suite, ensembled by naming the report and the variant.
    let suite = write_suite(
        tmp.path(),
        "ens",
        384,
        2,
        r#"{ name = "a", set = { "optimizer.lr" = 0.05 } }"#,
    );
    let t = ok(&[
        "ablate",
        suite.to_str().unwrap(),
        "--seeds",
        "3",
        "--out",
        out_s,
    ]);
    let report = report_dir(&t);
    let t = ok(&[
        "ensemble",
        report.to_str().unwrap(),
        "--variant",
        "a",
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_str(&t[t.find('{').unwrap()..]).unwrap();
    let members = r["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    // Each member's accuracy is its run's own test accuracy (same checkpoint, same data).
    let runs = out.join("ens").join("runs");
    for m in members {
        let dir = PathBuf::from(m["run"].as_str().unwrap());
        assert!(dir.starts_with(&runs));
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        let own = summary["test"]["top1"].as_f64().unwrap();
        assert!(
            (m["top1"].as_f64().unwrap() - own).abs() < 1e-9,
            "{m} vs {own}"
        );
    }
    assert_eq!(r["images"].as_u64().unwrap(), 128);
    // A run with itself is the run.
    let one = members[0]["run"].as_str().unwrap();
    let t = ok(&["ensemble", one, one, "--json"]);
    let r2: serde_json::Value = serde_json::from_str(&t[t.find('{').unwrap()..]).unwrap();
    assert_eq!(r2["top1"], members[0]["top1"]);
    let t = ok(&["ensemble", one, one, "--tta", "flip"]);
    assert!(t.contains("flip TTA") && t.contains("gain"), "{t}");
    // Members on other classes, or one member: refused with the reason.
    let other = tmp.path().join("other");
    ok(&[
        "train",
        "smoke",
        "--set",
        "data.classes=3",
        "--set",
        "model.classes=3",
        "--epochs",
        "1",
        "--out",
        other.to_str().unwrap(),
        "--no-tui",
    ]);
    let other_run = std::fs::read_dir(other.join("smoke"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let o = convlab(&["ensemble", one, other_run.to_str().unwrap()]);
    let t = text(&o);
    assert!(!o.status.success());
    assert!(
        t.contains("cannot join an ensemble") && t.contains("classes"),
        "{t}"
    );
    let o = convlab(&["ensemble", one]);
    assert!(text(&o).contains("at least two members"), "{}", text(&o));
    let o = convlab(&["ensemble", report.to_str().unwrap()]);
    assert!(text(&o).contains("--variant"), "{}", text(&o));
}

/// Issue 21, finding 1: a full disk ends a run with an error naming the file (exit 1, no panic,
/// no torn file), and the run resumes once there is room. A 2 MiB tmpfs holds one smoke run
/// and part of the next. Mounting needs root (CI runs as root); elsewhere
/// `CONVLAB_ALLOW_NO_TMPFS=1` skips the test, saying so.
#[test]
fn a_full_disk_stops_a_run_cleanly_and_it_resumes() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=2m",
            "tmpfs",
            mnt.to_str().unwrap(),
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !mounted {
        assert!(
            std::env::var_os("CONVLAB_ALLOW_NO_TMPFS").is_some(),
            "cannot mount a tmpfs (needs root); set CONVLAB_ALLOW_NO_TMPFS=1 to skip"
        );
        eprintln!("skipped: cannot mount a tmpfs");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let out = mnt.to_str().unwrap();
    let train = ["train", "smoke", "--epochs", "6", "--out", out, "--no-tui"];
    let mut failed = None;
    for _ in 0..6 {
        let o = convlab(&train);
        let t = text(&o);
        assert!(!t.contains("panicked"), "{t}");
        if !o.status.success() {
            assert_eq!(o.status.code(), Some(1), "{t}");
            assert!(t.contains("No space left on device"), "{t}");
            failed = Some(t);
            break;
        }
    }
    let t = failed.expect("the disk filled up");
    let runs = mnt.join("smoke");
    let all: Vec<PathBuf> = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    // No torn file: every checkpoint that has a sidecar matches it.
    for run in &all {
        for e in std::fs::read_dir(run.join("checkpoint"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let p = e.path();
            let side = PathBuf::from(format!("{}.sha256", p.display()));
            if side.is_file() {
                let ok = Command::new("sha256sum")
                    .arg("-c")
                    .arg(side.file_name().unwrap())
                    .current_dir(run.join("checkpoint"))
                    .output()
                    .unwrap();
                assert!(ok.status.success(), "{}", p.display());
            }
        }
    }
    // Room again: only the failed run is kept; it resumes (or, with no epoch saved, a new run
    // trains) to the end.
    let stopped = all
        .iter()
        .find(|r| !r.join("summary.json").exists() && r.join("recipe.toml").exists())
        .cloned();
    for run in &all {
        if Some(run) != stopped.as_ref() {
            std::fs::remove_dir_all(run).unwrap();
        }
    }
    match stopped {
        Some(run) if t.contains("the last complete checkpoint is epoch") => {
            let r = ok(&["train", "--resume", run.to_str().unwrap(), "--no-tui"]);
            assert!(r.contains("done: best epoch"), "{r}");
        }
        _ => {
            assert!(
                t.contains("no epoch was checkpointed") || !t.contains("training stopped"),
                "{t}"
            );
            let r = ok(&train);
            assert!(r.contains("done: best epoch"), "{r}");
        }
    }
}

/// Issue 21, finding 2: `ablate` killed with -9 leaves no orphan training on: its child stops
/// after its current batch once its parent is gone (its lock then free), and the next
/// invocation resumes or restarts the run instead of colliding with it.
#[test]
fn runs_of_a_killed_sweep_stop_and_the_sweep_resumes() {
    use convlab_experiments::record::rundir::RunDir;
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let suite = write_suite(
        tmp.path(),
        "orphan",
        20000,
        8,
        r#"{ name = "a", set = { "optimizer.lr" = 0.05 } }"#,
    );
    let out = tmp.path().join("out");
    let args = [
        "ablate",
        suite.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let mut sweep = Command::new(EXE)
        .args(args)
        .env("BURN_DEVICE", "flex")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let runs = out.join("orphan").join("runs");
    let live = |runs: &Path| -> Option<PathBuf> {
        std::fs::read_dir(runs)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.is_dir() && RunDir::writer(p).is_some())
    };
    let started = Instant::now();
    let run = loop {
        if let Some(run) = live(&runs) {
            break run;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    sweep.kill().unwrap(); // SIGKILL: no chance to stop its children itself
    sweep.wait().unwrap();
    let killed = Instant::now();
    while RunDir::writer(&run).is_some() {
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "the orphaned run is still writing {}",
            run.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // It stopped because its parent was gone, well before its last epoch.
    let summary = std::fs::read_to_string(run.join("summary.json")).unwrap();
    assert!(summary.contains("\"status\": \"interrupted\""), "{summary}");
    let t = ok(&args);
    assert!(t.contains("(1 of 1 runs finished)"), "{t}");
}

#[path = "ablate/kill.rs"]
mod kill;

#[path = "ablate/verdicts.rs"]
mod verdicts;

#[path = "ablate/plots.rs"]
mod plots;

/// Issue 26, finding 2: a closed stdout (`convlab models | head -1`, `convlab train … | head
/// -2`) ends the process as it ends any Unix tool (SIGPIPE), never in a panic or a hang.
#[test]
fn a_closed_stdout_ends_the_process_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let cases: [(&[&str], usize); 2] = [
        (&["models"], 1),
        (
            &[
                "train",
                "smoke",
                "--no-tui",
                "--no-fetch",
                "--epochs",
                "50",
                "--set",
                "data.samples=20000",
                "--out",
                out,
            ],
            2,
        ),
    ];
    for (args, lines) in cases {
        let err = tmp.path().join("stderr.txt");
        let mut child = Command::new(EXE)
            .args(args)
            .env("BURN_DEVICE", "flex")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        for _ in 0..lines {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
        }
        drop(reader); // `head` exits: the pipe's reading end closes
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{args:?} hangs on a closed stdout"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        // `models` may have written all of its table into the pipe's buffer before it closed.
        assert!(
            status.signal() == Some(13) || (status.success() && args[0] == "models"),
            "{args:?}: {status:?} (SIGPIPE expected)"
        );
        let stderr = std::fs::read_to_string(&err).unwrap();
        assert!(!stderr.contains("panicked"), "{args:?}:\n{stderr}");
    }
}

#[path = "ablate/newcomer.rs"]
mod newcomer;

#[path = "ablate/readme.rs"]
mod readme;

#[path = "ablate/gpucheck.rs"]
mod gpucheck;
