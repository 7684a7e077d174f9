//! Experiments-crate tests: recipe parsing and overrides, one training step of every recipe on
//! synthetic data, the overfit check, resume equality and the divergence guard.

use convlab_experiments::recipe::{Recipe, builtin_names};
use convlab_experiments::{Backend, RunStatus, TrainOptions, resume, train};

fn opts(out: &std::path::Path) -> TrainOptions {
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
fn schedule_semantics() {
    use burn::lr_scheduler::LrScheduler;
    use convlab_experiments::recipe::{ScheduleConfig, ScheduleKind};
    use convlab_experiments::schedule::Schedule;
    let multi = ScheduleConfig {
        kind: ScheduleKind::MultiStep,
        milestones: vec![2, 4],
        ..Default::default()
    };
    let s = Schedule::new(multi, 0.1, 10, 6);
    assert_eq!(s.lr_at(0), 0.1);
    assert_eq!(s.lr_at(19), 0.1, "epoch index 1");
    assert!(
        (s.lr_at(20) - 0.01).abs() < 1e-12,
        "decays once epoch 2 starts, as MultiStepLR"
    );
    assert!((s.lr_at(45) - 0.001).abs() < 1e-12);
    let cos = ScheduleConfig {
        kind: ScheduleKind::Cosine,
        warmup_epochs: 1,
        warmup_start_factor: 0.1,
        ..Default::default()
    };
    let mut s = Schedule::new(cos, 0.1, 10, 5);
    assert!(
        (s.step() - 0.01).abs() < 1e-12,
        "warm-up starts at 0.1 · lr"
    );
    assert!((s.lr_at(10) - 0.1).abs() < 1e-12, "peak after warm-up");
    assert!(
        s.lr_at(49) < 0.001 && s.lr_at(1000) >= 0.0,
        "ends near min_lr and stays there"
    );
    let rec = s.to_record();
    let mut t = Schedule::new(ScheduleConfig::default(), 0.1, 10, 5);
    t.load_record(rec);
    assert_eq!(
        t.step(),
        0.1,
        "constant schedule, position restored without error"
    );
}

/// One training step of every recipe, with its data replaced by synthetic images of the same
/// shape and class count.
#[test]
fn one_step_of_every_recipe_on_synthetic_data() {
    let out = tempfile::tempdir().expect("tmp");
    for name in builtin_names() {
        let r = Recipe::load(name, &[]).expect("recipe");
        let (shape, classes) = match r.data.dataset {
            convlab_experiments::recipe::DatasetKind::Mnist
            | convlab_experiments::recipe::DatasetKind::FashionMnist => ("[1, 28, 28]", 10),
            convlab_experiments::recipe::DatasetKind::Synthetic => continue,
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
        assert!(outcome.dir.join("recipe.toml").is_file(), "{name}");
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
        "metrics.csv",
        "summary.json",
        "checkpoint/model-1.bpk",
        "checkpoint/optim-1.bpk",
        "checkpoint/scheduler-1.bpk",
    ] {
        assert!(smoke.dir.join(f).is_file(), "{f}");
    }
}

#[test]
fn overfit_batches_reaches_full_training_accuracy() {
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

#[test]
fn resumed_run_ends_like_an_uninterrupted_one() {
    let out = tempfile::tempdir().expect("tmp");
    let recipe = || Recipe::load("smoke", &["epochs=3".into()]).expect("smoke");
    let full = train(recipe(), &opts(out.path())).expect("uninterrupted");
    // 384 training images / batch 32 = 12 iterations per epoch: stop in the middle of epoch 2.
    let mut o = opts(out.path());
    o.stop_after_iterations = Some(12 + 5);
    let cut = train(recipe(), &o).expect("interrupted");
    assert_eq!(cut.summary.status, RunStatus::Interrupted);
    assert_eq!(
        convlab_experiments::train::last_checkpoint(&cut.dir),
        Some(1)
    );
    let resumed = resume(&cut.dir, &opts(out.path())).expect("resumed");
    assert_eq!(resumed.dir, cut.dir, "resumes in place");
    assert_eq!(resumed.summary.status, RunStatus::Completed);
    assert_eq!(resumed.rows.len(), 3);
    for (a, b) in full.rows.iter().zip(&resumed.rows) {
        assert_eq!(a.epoch, b.epoch);
        for (x, y, what) in [
            (a.train_loss, b.train_loss, "train loss"),
            (a.valid_loss, b.valid_loss, "valid loss"),
            (a.valid_acc, b.valid_acc, "valid acc"),
            (a.lr, b.lr, "lr"),
        ] {
            assert!(
                (x - y).abs() <= 1e-6 * x.abs().max(1.0),
                "epoch {}: {what} {x} vs {y}",
                a.epoch
            );
        }
    }
    let (ta, tb) = (
        full.summary.test.expect("test"),
        resumed.summary.test.expect("test"),
    );
    assert!(
        (ta.loss - tb.loss).abs() < 1e-6 && ta.top1 == tb.top1,
        "{ta:?} vs {tb:?}"
    );
}

#[test]
fn divergence_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let out = tempfile::tempdir().expect("tmp");
    let recipe =
        Recipe::load("smoke", &["epochs=3".into(), "optimizer.lr=1e30".into()]).expect("smoke");
    let outcome = train(recipe, &opts(out.path())).expect("runs");
    assert_eq!(outcome.summary.status, RunStatus::Diverged);
    assert!(outcome.summary.test.is_none());
}
