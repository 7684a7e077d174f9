//! Issue 21's bit flips, file by file: one flipped high bit in any file of a finished run ends
//! every command that reads it (evaluation, the report page, a resume) in an error or in the
//! run's own numbers, never in a panic; in the files a resume or an evaluation depends on
//! (checkpoints, their sidecars, the recipe, run.json, the history) it is an error naming the
//! file. A high bit makes any byte of a text file invalid UTF-8, so TOML, JSON and CSV readers
//! see it; a flip that leaves a valid number is beyond what those formats can tell (README's
//! limits say so).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use convlab_experiments::Backend;
use convlab_experiments::config::recipe::Recipe;
use convlab_experiments::run::eval::{CheckpointChoice, Split, evaluate_run};
use convlab_experiments::{ResumeOptions, resume, train};

use crate::{opts, serial};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

fn files(dir: &Path, base: &Path, into: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, base, into);
        } else if p.file_name().is_some_and(|n| n != ".lock") {
            into.push(p.strip_prefix(base).expect("inside").to_path_buf());
        }
    }
}

#[test]
fn a_flipped_bit_in_any_file_of_a_run_is_an_error_or_harmless() {
    let _g = serial();
    let tmp = tempfile::tempdir().expect("tmp");
    let recipe = Recipe::load("smoke", &["epochs=2".to_string()]).expect("recipe");
    let pristine = train(recipe, &opts(&tmp.path().join("out"))).expect("run");
    let pristine = pristine.dir().to_path_buf();
    let mut all = vec![];
    files(&pristine, &pristine, &mut all);
    all.sort();
    // What each command must refuse when this file is flipped.
    let needed_by_resume = |f: &str| {
        f == "recipe.toml"
            || f == "run.json"
            || f == "metrics.csv"
            || f.starts_with("checkpoint/model-2.bpk")
            || f.starts_with("checkpoint/optim-2.bpk")
            || f.starts_with("checkpoint/scheduler-2.bpk")
    };
    let needed_by_eval = |f: &str| f == "recipe.toml" || f.starts_with("checkpoint/model-2.bpk");
    let evaluate = |dir: &Path| {
        evaluate_run(
            dir,
            Split::Test,
            CheckpointChoice::Last,
            Backend::Flex,
            None,
        )
        .map(|e| (e.epoch, e.evaluation.loss, e.evaluation.top1))
        .map_err(|e| format!("{e:#}"))
    };
    let own = evaluate(&pristine).expect("the intact run evaluates");
    let mut seen = vec![];
    for (k, rel) in all.iter().enumerate() {
        let name = rel.to_string_lossy().replace('\\', "/");
        let copy = tmp.path().join(format!("flip-{k}"));
        copy_dir(&pristine, &copy);
        let path = copy.join(rel);
        let mut bytes = std::fs::read(&path).expect("read");
        if bytes.is_empty() {
            continue;
        }
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x80;
        std::fs::write(&path, &bytes).expect("flip");
        let eval = catch_unwind(AssertUnwindSafe(|| evaluate(&copy)))
            .unwrap_or_else(|_| panic!("eval panicked on a flipped {name}"));
        let page = catch_unwind(AssertUnwindSafe(|| {
            convlab_experiments::record::page::render(&copy).map_err(|e| format!("{e:#}"))
        }))
        .unwrap_or_else(|_| panic!("the report panicked on a flipped {name}"));
        let extend = ResumeOptions {
            epochs: Some(3),
            from_epoch: None,
        };
        let resumed = catch_unwind(AssertUnwindSafe(|| {
            resume(&copy, &opts(tmp.path()), &extend)
                .map(|_| ())
                .map_err(|e| format!("{e:#}"))
        }))
        .unwrap_or_else(|_| panic!("resume panicked on a flipped {name}"));
        let file = rel
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let file = file.trim_end_matches(".sha256");
        if let Ok(numbers) = &eval {
            assert_eq!(
                *numbers, own,
                "an evaluation of a flipped {name} gave other numbers"
            );
        }
        if needed_by_eval(&name) {
            let e = eval.as_ref().expect_err(&name);
            assert!(e.contains(file), "eval of a flipped {name}: {e}");
        }
        if needed_by_resume(&name) {
            let e = resumed.as_ref().expect_err(&name);
            assert!(e.contains(file), "resume of a flipped {name}: {e}");
        }
        let _ = page;
        seen.push(name);
    }
    for kind in [
        "recipe.toml",
        "run.json",
        "metrics.csv",
        "summary.json",
        "checkpoint/model-2.bpk",
    ] {
        assert!(seen.iter().any(|s| s == kind), "{kind} not among {seen:?}");
    }
    println!("flipped one bit in each of {} files: {seen:?}", seen.len());
}
