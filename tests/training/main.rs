//! Experiments-crate tests: recipe parsing and overrides, one training step of every recipe on
//! synthetic data, the overfit check, resume equality and the divergence guard.

#[path = "../support/python.rs"]
mod python;
pub use python::pypi_python;
mod diagnostics;
mod ensemble;
mod faults;
mod flips;
mod metrics;
mod pictures;
mod report;
mod resume;
mod transfer;

use convlab_experiments::config::recipe::{Recipe, builtin_names};
use convlab_experiments::{Backend, RunStatus, TrainOptions, train};

/// Burn's device generator (weights, dropout masks) is process-wide: runs in parallel threads
/// of one process draw from it in turn and stop being reproducible (convlab runs one run per
/// process; its executors start processes). Tests that train hold this lock.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn opts(out: &std::path::Path) -> TrainOptions {
    TrainOptions {
        backend: Backend::Flex,
        out: out.to_path_buf(),
        fetch: false,
        ..Default::default()
    }
}

#[test]
fn every_builtin_recipe_parses() {
    for name in builtin_names() {
        let r = Recipe::load(name, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.name, name);
        assert!(!r.description.is_empty());
    }
    let vgg = Recipe::load("vgg-cifar", &[]).expect("vgg-cifar");
    assert_eq!(vgg.model.arch, convlab_models::Arch::Vgg16BnCifar);
    assert_eq!(vgg.batch_size, 128);
    assert!(vgg.optimizer.nesterov && vgg.optimizer.momentum == 0.9);
    assert_eq!(vgg.optimizer.weight_decay, 5e-4);
    assert_eq!(
        vgg.augment.crop.as_ref().map(|c| c.padding),
        Some(4),
        "inherited from base-cifar"
    );
    assert_eq!(vgg.augment.hflip, 0.5);
    let r56 = Recipe::load("resnet56-cifar", &[]).expect("resnet56");
    assert_eq!(
        (r56.epochs, r56.schedule.milestones.clone()),
        (182, vec![91, 136]),
        "two-level extends"
    );
    assert_eq!(r56.optimizer.weight_decay, 1e-4);
}

/// Typed overrides write the `key=value` strings the planner wrote before they were typed (plan
/// files and `--dry-run` keep their form), read them back, and apply every removal after every
/// set (a removal wins).
#[test]
fn typed_overrides_print_parse_and_remove() {
    use convlab_experiments::config::overrides::Override;
    let shape = Override::set("data.shape", vec![1i64, 28, 28]);
    assert_eq!(shape.to_string(), "data.shape=[1, 28, 28]");
    assert_eq!(
        Override::set("data.dataset", "synthetic").to_string(),
        "data.dataset=\"synthetic\""
    );
    assert_eq!(
        Override::set("model.width", 0.25).to_string(),
        "model.width=0.25"
    );
    assert_eq!(
        Override::remove("data.limit").to_string(),
        "data.limit=false"
    );
    let parsed: Override = "optimizer.lr=0.05".parse().expect("parse");
    assert_eq!(parsed, Override::set("optimizer.lr", 0.05));
    let parsed: Override = "optimizer.kind=sgd".parse().expect("bare string");
    assert_eq!(parsed, Override::set("optimizer.kind", "sgd"));
    assert!("=1".parse::<Override>().is_err());
    // A `set` table's `false` removes only the optional keys.
    assert_eq!(
        Override::from_entry("data.limit", &toml::Value::Boolean(false)),
        Override::remove("data.limit")
    );
    assert_eq!(
        Override::from_entry("data.normalize", &toml::Value::Boolean(false)),
        Override::set("data.normalize", false)
    );
    let r = Recipe::resolve(
        "lenet-fashion",
        &[
            Override::remove("data.limit"),
            Override::set("data.limit", 100i64),
            Override::set("epochs", 3i64),
        ],
    )
    .expect("resolve");
    assert_eq!((r.data.limit, r.epochs), (None, 3));
    let nested = Recipe::resolve("smoke", &[Override::set("epochs.x", 1i64)])
        .expect_err("epochs is not a table")
        .to_string();
    assert!(nested.contains("`epochs` is not a table"), "{nested}");
}

#[test]
fn overrides_and_errors_name_the_key() {
    let r = Recipe::load(
        "smoke",
        &[
            "optimizer.lr=0.2".into(),
            "model.width=0.5".into(),
            "epochs=7".into(),
        ],
    )
    .expect("overrides");
    assert_eq!(
        (r.optimizer.lr, r.model.width, r.epochs),
        (0.2, Some(0.5), 7)
    );
    let err = |sets: &[&str]| {
        Recipe::load(
            "smoke",
            &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .expect_err("should fail")
        .to_string()
    };
    let e = err(&["optimizer.lrr=0.1"]);
    assert!(e.contains("optimizer") && e.contains("lrr"), "{e}");
    let e = err(&["optimizer.lr=-1"]);
    assert!(e.contains("optimizer.lr") && e.contains("-1"), "{e}");
    let e = err(&["epochs=abc"]);
    assert!(e.contains("epochs"), "{e}");
    let e = err(&["model.shortcut=\"b\""]);
    assert!(
        e.contains("shortcut") && e.contains("does not apply"),
        "{e}"
    );
    let e = err(&["schedule.kind=\"multi-step\""]);
    assert!(e.contains("schedule.milestones"), "{e}");
    let e = err(&["nonsense"]);
    assert!(e.contains("key=value"), "{e}");
    let e = Recipe::load("no-such-recipe", &[])
        .expect_err("unknown")
        .to_string();
    assert!(
        e.contains("no-such-recipe") && e.contains("vgg-cifar"),
        "{e}"
    );

    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("base.toml"), "description = \"b\"\nseed = 1\nepochs = 2\nbatch_size = 4\n[model]\narch = \"lenet5\"\n[data]\ndataset = \"synthetic\"\nsamples = 64\nclasses = 2\nshape = [1, 28, 28]\n[optimizer]\nkind = \"sgd\"\nlr = 0.1\n").expect("write");
    std::fs::write(
        dir.path().join("child.toml"),
        "extends = \"base\"\ndescription = \"c\"\n[optimizer]\nlr = 0.01\n",
    )
    .expect("write");
    let child =
        Recipe::load(dir.path().join("child.toml").to_str().expect("utf8"), &[]).expect("child");
    assert_eq!(
        (child.optimizer.lr, child.seed, child.description.as_str()),
        (0.01, 1, "c")
    );
    std::fs::write(dir.path().join("loop.toml"), "extends = \"loop\"\n").expect("write");
    let e = Recipe::load(dir.path().join("loop.toml").to_str().expect("utf8"), &[])
        .expect_err("cycle")
        .to_string();
    assert!(e.contains("cycle"), "{e}");
    std::fs::write(
        dir.path().join("typo.toml"),
        "extends = \"base\"\n[augment]\nhflipp = 0.5\n",
    )
    .expect("write");
    let e = Recipe::load(dir.path().join("typo.toml").to_str().expect("utf8"), &[])
        .expect_err("typo")
        .to_string();
    assert!(e.contains("augment") && e.contains("hflipp"), "{e}");
}

#[test]
fn schedule_position_survives_a_checkpoint() {
    use burn::lr_scheduler::LrScheduler;
    use convlab_experiments::config::recipe::{ScheduleConfig, ScheduleKind};
    use convlab_experiments::run::schedule::Schedule;
    // Multi-step: the rate differs before and after iteration 10, so a restored position that
    // were ignored (or reset to 0) would give 0.1 where 0.01 is due.
    let multi = ScheduleConfig {
        kind: ScheduleKind::MultiStep,
        milestones: vec![1],
        ..Default::default()
    };
    let mut s = Schedule::new(multi.clone(), 0.1, 10, 3);
    for _ in 0..15 {
        s.step();
    }
    let mut restored = Schedule::new(multi, 0.1, 10, 3);
    assert_eq!(restored.lr_at(0), 0.1);
    restored.load_record(s.to_record());
    let lr = restored.step();
    assert!((lr - 0.01).abs() < 1e-15, "restored at iteration 15: {lr}");
    assert!((s.step() - lr).abs() < 1e-15);
}

/// One training step of every recipe, with its data replaced by synthetic images of the same
/// shape and class count.
#[test]
fn one_step_of_every_recipe_on_synthetic_data() {
    let _serial = crate::serial();
    let out = tempfile::tempdir().expect("tmp");
    for name in builtin_names() {
        let r = Recipe::load(name, &[]).expect("recipe");
        let (shape, classes) = match r.data.dataset {
            convlab_experiments::config::recipe::DatasetKind::Mnist
            | convlab_experiments::config::recipe::DatasetKind::FashionMnist => ("[1, 28, 28]", 10),
            convlab_experiments::config::recipe::DatasetKind::Synthetic => continue,
            _ => ("[3, 32, 32]", 10),
        };
        let sets: Vec<String> = [
            "data.dataset=\"synthetic\"".to_string(),
            "data.samples=40".into(),
            "data.test_samples=10".into(),
            format!("data.classes={classes}"),
            format!("data.shape={shape}"),
            "data.valid_fraction=0.5".into(),
            "batch_size=8".into(),
            "epochs=2".into(),
            "model.width=0.25".into(),
        ]
        .into();
        let recipe = Recipe::load(name, &sets).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut o = opts(out.path());
        o.stop_after_iterations = Some(1);
        let outcome = train(recipe, &o).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(outcome.summary.status, RunStatus::Interrupted, "{name}");
        assert!(outcome.dir().join("recipe.toml").is_file(), "{name}");
    }
    let smoke = train(
        Recipe::load("smoke", &["epochs=1".into()]).expect("smoke"),
        &opts(out.path()),
    )
    .expect("smoke");
    assert_eq!(smoke.summary.status, RunStatus::Completed);
    assert_eq!(smoke.rows.len(), 1);
    assert!(smoke.summary.test.is_some());
    for f in [
        "recipe.toml",
        "run.json",
        "metrics.csv",
        "summary.json",
        "checkpoint/model-1.bpk",
        "checkpoint/optim-1.bpk",
        "checkpoint/scheduler-1.bpk",
    ] {
        assert!(smoke.dir().join(f).is_file(), "{f}");
    }
    // No temporary file of an atomic write is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(smoke.dir())
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The binary's own commit is recorded, not the current directory's.
    let summary = smoke.run.summary().expect("summary.json");
    assert!(
        summary.binary.starts_with("convlab ") && !summary.binary.contains("commit unknown"),
        "{}",
        summary.binary
    );
}

#[test]
fn overfit_batches_reaches_full_training_accuracy() {
    let _serial = crate::serial();
    let out = tempfile::tempdir().expect("tmp");
    let recipe =
        Recipe::load("smoke", &["epochs=60".into(), "optimizer.lr=0.02".into()]).expect("smoke");
    let mut o = opts(out.path());
    o.overfit_batches = Some(2);
    let outcome = train(recipe, &o).expect("overfit run");
    let best = outcome.rows.iter().map(|r| r.train_acc).fold(0.0, f64::max);
    assert!(
        best >= 100.0 - 1e-9,
        "training accuracy on 2 fixed batches reached only {best}%"
    );
}

/// Issue 26: README's recipe key reference is the one generated from the recipe schema
/// (`convlab recipe keys`), and every key has a meaning (its field's doc comment).
#[test]
fn readme_lists_every_recipe_key_with_its_meaning() {
    let keys = convlab_experiments::config::keys::reference();
    assert!(keys.len() > 60, "{keys:?}");
    let undocumented: Vec<&str> = keys
        .iter()
        .filter(|k| k.meaning.is_empty())
        .map(|k| k.key.as_str())
        .collect();
    assert!(
        undocumented.is_empty(),
        "keys without a doc comment: {undocumented:?}"
    );
    for want in [
        "optimizer.lr",
        "data.test_fraction",
        "model.arch",
        "augment.crop.padding",
    ] {
        assert!(keys.iter().any(|k| k.key == want), "{want} missing");
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let (start, end) = ("<!-- recipe-keys -->\n", "<!-- /recipe-keys -->");
    let a = readme
        .find(start)
        .expect("README has the recipe-keys block")
        + start.len();
    let b = readme[a..].find(end).expect("end of the recipe-keys block") + a;
    assert_eq!(
        &readme[a..b],
        convlab_experiments::config::keys::markdown(),
        "README's key table is stale: replace it with `convlab recipe keys`"
    );
}
